#!/usr/bin/env bash
# The pure policy library does no I/O: every symbol libfence_policy.a needs from outside itself
# must be from the C++ runtime's exception and allocation support, or one of the pure C library
# functions listed below. A call to open(2), a socket, std::filesystem, a stream, Boost or
# fence's own platform/ipc code fails this test. Usage: policy_is_pure.sh LIBFENCE_POLICY_A
set -euo pipefail
archive=$1
allowed_c='^(memchr|memcmp|memcpy|memmove|memset|strlen|strchr|strcmp|strncmp|strtol|strtoul|strtoull|snprintf|__snprintf_chk|__memcpy_chk|__memmove_chk|__memset_chk|inet_pton|inet_ntop|fnmatch|__errno_location|__stack_chk_fail|_GLOBAL_OFFSET_TABLE_|__dso_handle|__cxa_[a-z_]+|__asan_.*|__ubsan_.*|__gxx_personality_v0|_Unwind_Resume|_ZdlPv.*|_Znwm.*|_ZdaPv.*|_Znam.*)$'
allowed_cxx='^(std::__throw_[a-z_]+|std::(invalid_argument|out_of_range|length_error|logic_error|runtime_error|exception|bad_alloc)::|typeinfo for std::(invalid_argument|out_of_range|length_error|logic_error|runtime_error|exception)|vtable for std::(invalid_argument|out_of_range|length_error|logic_error|runtime_error)|vtable for __cxxabiv1::|std::__cxx11::basic_string|std::basic_string|std::_Hash_bytes|std::__detail::_Prime_rehash_policy|std::_Rb_tree_(increment|decrement|insert_and_rebalance|rebalance_for_erase))'
undefined=$(nm "$archive" | awk '$1 == "U" {print $2}' | sort -u)
defined=$(nm "$archive" | awk 'NF == 3 && $2 ~ /[TWVBDRtwvbdru]/ {print $3}' | sort -u)
bad=0
while read -r sym; do
  [[ -z $sym ]] && continue
  [[ $sym =~ $allowed_c ]] && continue
  demangled=$(c++filt "$sym")
  [[ $demangled =~ $allowed_cxx ]] && continue
  echo "fence_policy uses $demangled"
  bad=1
done < <(comm -23 <(echo "$undefined") <(echo "$defined"))
if [[ $bad -ne 0 ]]; then
  echo "FAIL: the pure policy library reaches outside the standard library's pure parts"
  exit 1
fi
echo "fence_policy: pure ($(echo "$undefined" | wc -l) undefined symbols, all allowed)"
