// `fence --linux-features`: what this kernel offers and what fence will enforce with it.
#pragma once

#include <string>

namespace fence::supervisor {

std::string linux_features_report();

// A concrete fix for hosts where unprivileged user namespaces are unavailable.
std::string user_namespace_fix_hint();

}  // namespace fence::supervisor
