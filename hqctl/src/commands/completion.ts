/**
 * `hqctl completion bash|zsh`: a completion script for verbs, resource types, flags, and object
 * names (asked of the server at completion time with `hqctl get TYPE -o name`).
 */
import type { Command } from '../command.ts';
import { CliError } from '../errors.ts';
import { ALL_RESOURCES } from '../resources.ts';
import { GLOBAL_FLAGS, type FlagSpec } from '../args.ts';

const flagWords = (flags: FlagSpec[]) => flags.flatMap((f) => [`--${f.name}`, ...(f.short ? [`-${f.short}`] : [])]);

/** The bash script; `commands` gives the verbs and their flags. */
export function bashCompletion(commands: Command[]): string {
  const verbs = commands.map((c) => c.name).join(' ');
  const categories = [...new Set(ALL_RESOURCES.flatMap((r) => r.descriptor.categories))];
  const types = [...ALL_RESOURCES.flatMap((r) => [r.plural, ...r.descriptor.shortNames]), ...categories].join(' ');
  const valued = [...GLOBAL_FLAGS, ...commands.flatMap((c) => c.flags)].filter((f) => f.type !== 'bool');
  const valuedWords = [...new Set(flagWords(valued))].join('|');
  const perVerb = commands
    .map((c) => `    ${c.name}) flags="${[...new Set(flagWords([...c.flags, ...GLOBAL_FLAGS]))].join(' ')}" ;;`)
    .join('\n');
  return `# bash completion for hqctl. Load it with:  source <(hqctl completion bash)
_hqctl_names() {
  # Object names of a type, from the server; namespace flags of the command line pass through.
  local type="$1"; shift
  hqctl get "$type" -o name "$@" 2>/dev/null | sed 's|.*/||'
}

_hqctl() {
  local cur prev i w flags
  local -a words nsargs
  COMPREPLY=()
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  case "$prev" in
    -f|--filename|--kubeconfig|--certificate-authority)
      COMPREPLY=( $(compgen -f -- "$cur") ); return ;;
    -o|--output)
      COMPREPLY=( $(compgen -W "yaml json wide name rendered jsonpath=" -- "$cur") ); return ;;
    ${valuedWords})
      return ;;
  esac
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    case "$w" in
      -n|--namespace|--kubeconfig|-s|--server|--token) nsargs+=("$w" "\${COMP_WORDS[i+1]}"); ((i++)) ;;
      ${valuedWords}) ((i++)) ;;
      -*) ;;
      *) words+=("$w") ;;
    esac
  done
  local verb="\${words[0]}"
  if [[ "$cur" == -* ]]; then
    case "$verb" in
${perVerb}
      *) flags="${flagWords(GLOBAL_FLAGS).join(' ')}" ;;
    esac
    COMPREPLY=( $(compgen -W "$flags" -- "$cur") ); return
  fi
  case "$verb" in
    "") COMPREPLY=( $(compgen -W "${verbs}" -- "$cur") ) ;;
    get|describe|delete)
      if (( \${#words[@]} == 1 )); then COMPREPLY=( $(compgen -W "${types}" -- "$cur") )
      else COMPREPLY=( $(compgen -W "$(_hqctl_names "\${words[1]}" "\${nsargs[@]}")" -- "$cur") ); fi ;;
    rollout)
      if (( \${#words[@]} == 1 )); then COMPREPLY=( $(compgen -W "status history undo pause resume" -- "$cur") )
      else COMPREPLY=( $(compgen -W "$(_hqctl_names haproxyconfigs "\${nsargs[@]}")" -- "$cur") ); fi ;;
    drain|maint|ready|weight)
      if (( \${#words[@]} == 1 )); then COMPREPLY=( $(compgen -W "$(_hqctl_names haproxyinstances "\${nsargs[@]}")" -- "$cur") ); fi ;;
    completion) COMPREPLY=( $(compgen -W "bash zsh" -- "$cur") ) ;;
    help) COMPREPLY=( $(compgen -W "${verbs}" -- "$cur") ) ;;
  esac
}
complete -o default -F _hqctl hqctl
`;
}

export function completionCommand(commands: () => Command[]): Command {
  return {
    name: 'completion',
    summary: 'Print a shell completion script (bash or zsh)',
    help: `Print a completion script for bash or zsh: verbs, resource types, flags, and the names of
objects (asked of the server when you press Tab).

Usage:
  hqctl completion bash|zsh

Examples:
  source <(hqctl completion bash)                     # this shell
  hqctl completion bash > /etc/bash_completion.d/hqctl
  source <(hqctl completion zsh)                      # zsh (in ~/.zshrc)`,
    flags: [],
    async run(ctx) {
      const shell = ctx.positionals[0];
      if (ctx.positionals.length !== 1 || (shell !== 'bash' && shell !== 'zsh')) {
        throw new CliError('hqctl completion takes one argument: bash or zsh');
      }
      const script = bashCompletion(commands());
      // zsh runs the bash function through its bashcompinit layer.
      ctx.out(shell === 'bash' ? script : `#compdef hqctl\nautoload -U +X bashcompinit && bashcompinit\n${script}`);
      return 0;
    },
  };
}
