// The launcher's one error style: which plan step failed (its stage, a value the supervisor
// acts on, and its name, for people), errno, and the path or detail. Anything thrown before
// exec becomes a SetupFailed message and the command is never run.
#pragma once

#include <stdexcept>
#include <string>

#include "ipc/protocol.hpp"

namespace fence::launcher {

using Stage = ipc::SetupStage;

class StepError : public std::runtime_error {
 public:
  StepError(Stage stage, std::string step, int error, std::string detail = {})
      : std::runtime_error(step),
        stage_(stage),
        step_(std::move(step)),
        error_(error),
        detail_(std::move(detail)) {}
  Stage stage() const noexcept { return stage_; }
  const std::string& step() const noexcept { return step_; }
  int error() const noexcept { return error_; }
  const std::string& detail() const noexcept { return detail_; }

 private:
  Stage stage_;
  std::string step_;
  int error_;
  std::string detail_;
};

// Runs `fn`; any exception it throws is re-thrown as a StepError naming `step`.
template <typename Fn>
void run_step(Stage stage, const std::string& step, Fn&& fn);

}  // namespace fence::launcher

#include "platform/sys_error.hpp"

namespace fence::launcher {

template <typename Fn>
void run_step(Stage stage, const std::string& step, Fn&& fn) {
  try {
    fn();
  } catch (const StepError&) {
    throw;
  } catch (const platform::SysError& e) {
    throw StepError(stage, step, e.error_code(), e.op());
  } catch (const std::exception& e) {
    throw StepError(stage, step, 0, e.what());
  }
}

}  // namespace fence::launcher
