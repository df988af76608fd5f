// The launcher's one error style: which plan step failed, errno, and the path or detail.
// Anything thrown before exec becomes a SetupFailed message and the command is never run.
#pragma once

#include <stdexcept>
#include <string>

namespace fence::launcher {

class StepError : public std::runtime_error {
 public:
  StepError(std::string step, int error, std::string detail = {})
      : std::runtime_error(step),
        step_(std::move(step)),
        error_(error),
        detail_(std::move(detail)) {}
  const std::string& step() const noexcept { return step_; }
  int error() const noexcept { return error_; }
  const std::string& detail() const noexcept { return detail_; }

 private:
  std::string step_;
  int error_;
  std::string detail_;
};

// Runs `fn`; any exception it throws is re-thrown as a StepError naming `step`.
template <typename Fn>
void run_step(const std::string& step, Fn&& fn);

}  // namespace fence::launcher

#include "platform/sys_error.hpp"

namespace fence::launcher {

template <typename Fn>
void run_step(const std::string& step, Fn&& fn) {
  try {
    fn();
  } catch (const StepError&) {
    throw;
  } catch (const platform::SysError& e) {
    throw StepError(step, e.error_code(), e.op());
  } catch (const std::exception& e) {
    throw StepError(step, 0, e.what());
  }
}

}  // namespace fence::launcher
