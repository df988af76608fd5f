// The audit log (--audit-log FILE): JSON Lines, written only by the supervisor.
//
// Every line is one JSON object with at least:
//   "v": 1            schema version
//   "time": "2024-05-01T12:34:56.789Z"   RFC 3339, UTC, milliseconds
//   "event": "session_start" | "network" | "session_end" | ...
// Each line is written with ONE write(2) on an O_APPEND descriptor, so lines from several
// writers (threads, or processes sharing the file) never interleave. Strings that are not valid
// UTF-8 (argv may contain anything) are written with U+FFFD replacements.
// The schema of each event is documented in docs/ (see the builders below).
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "platform/unique_fd.hpp"

namespace fence::supervisor {

inline constexpr int kAuditSchemaVersion = 1;

class AuditLog {
 public:
  // Opens `path` for appending, created with mode 0600 when missing, as
  // platform::open_host_file_for_append does (no symlink or hard link a sandbox could have
  // planted). nullopt on failure, with the reason in *error when given ("cannot open audit log:
  // PATH: ..."); the path it reached in *resolved ("" for an inherited descriptor).
  static std::optional<AuditLog> open(const std::string& path, std::string* error = nullptr,
                                      std::string* resolved = nullptr);
  // Takes an already open descriptor (tests, or a log inherited by fd).
  explicit AuditLog(platform::UniqueFd fd) : fd_(std::move(fd)) {}

  // Adds "v", "time" (and "event": "unknown" if absent) to a copy of `event`, serializes it as
  // one line and writes it with one write(2). Returns false on I/O failure. Thread-safe.
  bool write(const nlohmann::json& event) const;

  int fd() const { return fd_.get(); }

 private:
  platform::UniqueFd fd_;
};

// "2024-05-01T12:34:56.789Z" for now (CLOCK_REALTIME).
std::string rfc3339_utc_now();

// SHA-256 of `data`, and as lowercase hex.
std::array<std::uint8_t, 32> sha256(std::string_view data);
std::string sha256_hex(std::string_view data);

// --- event builders (the fields "v" and "time" are added by AuditLog::write) -----------------

// {"event":"session_start","argv":[...],"cwd":...,"uid":N,"pid":N,
//  "policy_sha256": sha256_hex(canonical_config_json),"features":{...}}
nlohmann::json session_start(const std::vector<std::string>& argv, const std::string& cwd,
                             uid_t uid, std::string_view canonical_config_json,
                             const nlohmann::json& features);

// {"event":"network","protocol":"http-connect"|"http-forward"|"socks5",
//  "host":...,"port":N,"resolved":"198.51.100.10, 2001:db8::10","connected":"198.51.100.10",
//  "rule":"*.example.com","verdict":"allow"|"deny","reason":...,
//  "bytes_up":N,"bytes_down":N,"duration_ms":N}
nlohmann::json network_decision(std::string_view protocol, std::string_view host,
                                std::uint16_t port, std::string_view resolved,
                                std::string_view connected, std::string_view rule, bool allowed,
                                std::string_view reason, std::uint64_t bytes_up,
                                std::uint64_t bytes_down, std::uint64_t duration_ms);

// {"event":"session_end","exit_code":N | "signal":N,"duration_ms":N,"counts":{...}}
// Exactly one of exit_code / signal is written (signal wins if both are given).
nlohmann::json session_end(std::optional<int> exit_code, std::optional<int> signal,
                           std::uint64_t duration_ms, const nlohmann::json& counts);

}  // namespace fence::supervisor
