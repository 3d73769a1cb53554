# Shared by every recipes/<task>/run.sh: option parsing, stage selection, skip markers, logging.
#
# A run.sh sets its variables (plain `name=value` lines at the top), then sources this file
# with its arguments:   . "$(dirname "$0")/../_common/stages.sh" "$@"
# Every variable set before that line can be overridden on the command line, as
# `--name value`, `--name=value` or `name=value` (dashes in names become underscores), e.g.
#   recipes/esc50/run.sh --stage 2 --stop_stage 2 corpus=/data/ESC-50
# Then each stage is one line:   stage N NAME COMMAND [ARGS...]
# which runs COMMAND when stage <= N <= stop_stage, logs it to $exp/logs/N.NAME.log, and writes
# the marker $exp/.stages/N.NAME.done when it succeeds; a stage with a marker is skipped (delete
# the marker to run it again). Every recipe also takes --stage, --stop_stage, --overrides and
# --prep_opts (defaults below).

set -euo pipefail

# Options every recipe has; a run.sh may set other defaults before sourcing this file.
[[ -v stage ]] || stage=1                # first stage to run
[[ -v stop_stage ]] || stop_stage=100    # last stage to run
[[ -v overrides ]] || overrides=""       # extra `--set key=value` training pairs, space-separated
[[ -v prep_opts ]] || prep_opts=""       # extra data_prep script options (e.g. "--n-mels 32")

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
recipe_dir=$(cd "$(dirname "$0")" && pwd)

log() { echo "[$(basename "$recipe_dir") $(date -u +%H:%M:%S)] $*" >&2; }
die() { log "error: $*"; exit 2; }

# The recipe's settable variables: the lower-case, not exported variables set before this file.
_recipe_vars=$(comm -23 <(compgen -v | grep -E '^[a-z][a-z0-9_]*$' | sort) <(compgen -e | sort) \
  | grep -vxE 'repo_root|recipe_dir' || true)

_usage() {
  echo "usage: $0 [--name value | name=value ...]"
  echo "variables (current values):"
  for v in $_recipe_vars; do printf '  %-16s %s\n' "$v" "${!v}"; done
}

_set_var() {  # _set_var NAME VALUE: set a recipe variable, refuse unknown names
  local name=${1//-/_}
  grep -qxF -- "$name" <<<"$_recipe_vars" || die "unknown option '$1' (see --help)"
  printf -v "$name" '%s' "$2"
}

while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) _usage; exit 0 ;;
    --*=*) arg=${1#--}; _set_var "${arg%%=*}" "${arg#*=}"; shift ;;
    --*) [ $# -ge 2 ] || die "option $1 needs a value"; _set_var "${1#--}" "$2"; shift 2 ;;
    *=*) _set_var "${1%%=*}" "${1#*=}"; shift ;;
    *) die "unexpected argument '$1' (use --name value or name=value)" ;;
  esac
done
[[ $stage =~ ^[0-9]+$ && $stop_stage =~ ^[0-9]+$ ]] || die "--stage/--stop_stage must be integers"

# `overrides` (space-separated key=value) -> set_args: `--set` options of audiocs train/crossval.
set_args=()
for _o in ${overrides:-}; do set_args+=(--set "$_o"); done

conf() { case "$1" in /*) echo "$1" ;; *) echo "$recipe_dir/$1" ;; esac; }  # config path
flag() { [ "${!1}" = true ] && echo "$2" || true; }  # flag VAR --option: the option when VAR=true

stage() {  # stage N NAME COMMAND [ARGS...]
  local n=$1 name=$2
  shift 2
  if [ "$n" -lt "$stage" ] || [ "$n" -gt "$stop_stage" ]; then return 0; fi
  local marker="$exp/.stages/$n.$name.done" logfile="$exp/logs/$n.$name.log"
  if [ -f "$marker" ]; then
    log "stage $n $name: skipped (finished $(cat "$marker"))"
    return 0
  fi
  mkdir -p "$exp/.stages" "$exp/logs"
  log "stage $n $name: $*"
  local start=$SECONDS
  if ! "$@" 2>&1 | tee "$logfile"; then
    die "stage $n $name failed (log: $logfile)"
  fi
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) in $((SECONDS - start)) s" >"$marker.tmp"
  mv "$marker.tmp" "$marker"
  log "stage $n $name: done in $((SECONDS - start)) s"
}
