#include "supervisor/completion.hpp"

#include "supervisor/cli.hpp"

namespace fence::supervisor {
namespace {

std::string dash_name(const FlagSpec& flag, bool prefer_long) {
  if (prefer_long && !flag.long_name.empty()) return "--" + std::string(flag.long_name);
  if (!flag.short_name.empty()) return "-" + std::string(flag.short_name);
  return "--" + std::string(flag.long_name);
}

// Every spelling of every flag, space-separated.
std::string all_flag_words() {
  std::string out;
  for (const FlagSpec& flag : kFlags) {
    if (!flag.short_name.empty()) out += " -" + std::string(flag.short_name);
    if (!flag.long_name.empty()) out += " --" + std::string(flag.long_name);
  }
  return out.substr(1);
}

// The spellings of the flags whose value is the next word, as a bash case pattern.
std::string next_word_pattern(FlagValue kind, bool any) {
  std::string out;
  for (const FlagSpec& flag : kFlags) {
    if (!flag.takes_next_word() || (!any && flag.value != kind)) continue;
    if (!flag.short_name.empty()) out += "|-" + std::string(flag.short_name);
    if (!flag.long_name.empty()) out += "|--" + std::string(flag.long_name);
  }
  return out.empty() ? "" : out.substr(1);
}

std::string subcommand_words() {
  std::string out;
  for (std::string_view s : kSubcommands) out += (out.empty() ? "" : " ") + std::string(s);
  return out;
}

std::string bash_script() {
  std::string choices;
  for (const FlagSpec& flag : kFlags)
    if (flag.value == FlagValue::Choice)
      choices += "    " + dash_name(flag, true) + ") COMPREPLY=($(compgen -W \"" +
                 std::string(flag.choices) + "\" -- \"$cur\")); return ;;\n";
  return "# bash completion for fence: source <(fence completion bash)\n"
         "_fence() {\n"
         "  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} i\n"
         "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
         "    case ${COMP_WORDS[i]} in\n"
         "    --) _fence_command $((i + 1)); return ;;\n"
         "    " +
         next_word_pattern(FlagValue::None, true) +
         ") ((i++)) ;;\n"
         "    -*) ;;\n"
         "    completion)\n"
         "      if ((i == 1)); then COMPREPLY=($(compgen -W \"bash zsh fish\" -- \"$cur\"));\n"
         "      else _fence_command \"$i\"; fi\n"
         "      return ;;\n"
         "    *) _fence_command \"$i\"; return ;;\n"
         "    esac\n"
         "  done\n"
         "  case $prev in\n"
         "    " +
         next_word_pattern(FlagValue::File, false) +
         ") COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n" + choices + "    " +
         next_word_pattern(FlagValue::String, false) + "|" +
         next_word_pattern(FlagValue::Repeated, false) +
         ") return ;;\n"
         "  esac\n"
         "  if [[ $cur == -* ]]; then\n"
         "    COMPREPLY=($(compgen -W \"" +
         all_flag_words() +
         "\" -- \"$cur\"))\n"
         "  elif ((COMP_CWORD == 1)); then\n"
         "    COMPREPLY=($(compgen -c -W \"" +
         subcommand_words() +
         "\" -- \"$cur\"))\n"
         "  else\n"
         "    COMPREPLY=($(compgen -c -- \"$cur\"))\n"
         "  fi\n"
         "}\n"
         "# The words from `start` on are a command line of their own.\n"
         "_fence_command() {\n"
         "  if declare -F _command_offset >/dev/null; then\n"
         "    _command_offset \"$1\"\n"
         "  elif (($1 == COMP_CWORD)); then\n"
         "    COMPREPLY=($(compgen -c -- \"${COMP_WORDS[COMP_CWORD]}\"))\n"
         "  else\n"
         "    COMPREPLY=($(compgen -f -- \"${COMP_WORDS[COMP_CWORD]}\"))\n"
         "  fi\n"
         "}\n"
         "complete -F _fence fence\n";
}

// Text inside a zsh _arguments spec: [ ] : and ' would end it.
std::string zsh_text(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '[' || c == ']' || c == ':' || c == '\\') out += '\\';
    if (c == '\'') {
      out += "'\\''";
      continue;
    }
    out += c;
  }
  return out;
}

std::string zsh_script() {
  std::string specs;
  for (const FlagSpec& flag : kFlags) {
    // The names, opening a quoted spec: '(-s --settings)'{-s,--settings}'  or  '--shell
    std::string spec;
    const bool both = !flag.short_name.empty() && !flag.long_name.empty();
    const std::string s = "-" + std::string(flag.short_name);
    const std::string l = "--" + std::string(flag.long_name);
    if (both && flag.value == FlagValue::Repeated)
      spec = "'*'{" + s + "," + l + "}'";
    else if (both)
      spec = "'(" + s + " " + l + ")'{" + s + "," + l + "}'";
    else if (flag.value == FlagValue::Optional)
      spec = "'" + dash_name(flag, true) + "=-";
    else
      spec = "'" + dash_name(flag, true);
    spec += "[" + zsh_text(flag.help) + "]";
    switch (flag.value) {
      case FlagValue::None:
        break;
      case FlagValue::File:
        spec += ":" + zsh_text(flag.value_name) + ":_files";
        break;
      case FlagValue::Choice:
        spec += ":" + zsh_text(flag.value_name) + ":(" + std::string(flag.choices) + ")";
        break;
      case FlagValue::Optional:
        spec += "::" + zsh_text(flag.value_name) + ":_files";
        break;
      default:
        spec += ":" + zsh_text(flag.value_name) + ": ";
        break;
    }
    specs += "    " + spec + "' \\\n";
  }
  return "#compdef fence\n"
         "# zsh completion for fence: source <(fence completion zsh), or save as _fence in "
         "$fpath\n"
         "_fence() {\n"
         "  local state line\n"
         "  _arguments -s -S \\\n" +
         specs +
         "    '1: :->first' \\\n"
         "    '*:: :->rest'\n"
         "  case $state in\n"
         "    first) _alternative 'subcommands:subcommand:(" +
         subcommand_words() +
         ")' "
         "'commands:command:_command_names -e' ;;\n"
         "    rest)\n"
         "      if [[ ${line[1]} == completion ]]; then _values shell bash zsh fish\n"
         "      else _normal; fi ;;\n"
         "  esac\n"
         "}\n"
         "if [[ $zsh_eval_context[-1] == loadautofunc ]]; then _fence \"$@\"; "
         "else compdef _fence fence; fi\n";
}

std::string fish_text(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

std::string fish_script() {
  std::string out =
      "# fish completion for fence: fence completion fish | source\n"
      "complete -c fence -f\n"
      "complete -c fence -n '__fish_use_subcommand' -a '" +
      subcommand_words() +
      "' -d 'fence subcommand'\n"
      "complete -c fence -n '__fish_seen_subcommand_from completion' -x -a 'bash zsh fish'\n"
      "complete -c fence -n '__fish_use_subcommand' -a '(__fish_complete_command)'\n";
  for (const FlagSpec& flag : kFlags) {
    std::string line = "complete -c fence -n '__fish_use_subcommand'";
    if (!flag.short_name.empty()) line += " -s " + std::string(flag.short_name);
    if (!flag.long_name.empty()) line += " -l " + std::string(flag.long_name);
    switch (flag.value) {
      case FlagValue::None:
        break;
      case FlagValue::File:
      case FlagValue::Optional:
        line += " -r -F";
        break;
      case FlagValue::Choice:
        line += " -x -a " + fish_text(flag.choices);
        break;
      default:
        line += " -x";
        break;
    }
    out += line + " -d " + fish_text(flag.help) + "\n";
  }
  return out;
}

}  // namespace

std::optional<std::string> completion_script(std::string_view shell) {
  if (shell == "bash") return bash_script();
  if (shell == "zsh") return zsh_script();
  if (shell == "fish") return fish_script();
  return std::nullopt;
}

}  // namespace fence::supervisor
