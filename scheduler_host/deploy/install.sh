#!/usr/bin/env bash
# Install and (re)start the lambda-admm scheduler service on a host.  Idempotent.
#
#   install.sh --prefix DIR --src DIR --env-file FILE [--python PATH] [--log-file FILE]
#              [--user NAME] [--no-systemd]
#
# --env-file holds KEY=VALUE lines: QUEUE_URL, BUCKET, API_URL, AWS_REGION, ADVERTISE_HOST,
# FRONT_PORT, BROADCAST_PORT (extra keys are kept).  The script makes a venv at $PREFIX/venv
# (python3.12 if present -- installed with dnf on Amazon Linux 2023, whose python3 is 3.9 --
# else python3 if it is >= 3.11, or --python), pip-installs $SRC into it, writes
# $PREFIX/scheduler.env and runs `$PREFIX/venv/bin/lambda-admm serve` with it: as the systemd
# unit lambda-admm-scheduler.service (Restart=always), or with --no-systemd as a background
# process whose pid is in $PREFIX/scheduler.pid.  Output goes to --log-file
# (default $PREFIX/log/scheduler.log), which the CloudWatch agent ships on EC2.
set -euo pipefail

UNIT=lambda-admm-scheduler.service
REQUIRED_KEYS=(QUEUE_URL BUCKET API_URL AWS_REGION ADVERTISE_HOST FRONT_PORT BROADCAST_PORT)

die() { echo "install.sh: $*" >&2; exit 2; }
log() { echo "install.sh: $*" >&2; }

prefix="" src="" env_file="" python="" log_file="" user="lambda-admm" systemd=1
while (($#)); do
  case "$1" in
    --prefix) prefix=${2:?--prefix needs a value}; shift 2 ;;
    --src) src=${2:?--src needs a value}; shift 2 ;;
    --env-file) env_file=${2:?--env-file needs a value}; shift 2 ;;
    --python) python=${2:?--python needs a value}; shift 2 ;;
    --log-file) log_file=${2:?--log-file needs a value}; shift 2 ;;
    --user) user=${2:?--user needs a value}; shift 2 ;;
    --no-systemd) systemd=0; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) die "unknown argument: $1" ;;
  esac
done
[[ -n $prefix && -n $src && -n $env_file ]] || die "--prefix, --src and --env-file are required"
[[ -f $src/pyproject.toml ]] || die "--src $src has no pyproject.toml"
[[ -r $env_file ]] || die "--env-file $env_file is not readable"
prefix=$(mkdir -p "$prefix" && cd "$prefix" && pwd)
src=$(cd "$src" && pwd)
log_file=${log_file:-$prefix/log/scheduler.log}

# --- configuration: parsed, never sourced; values must be plain words --------------------------
declare -A config=()
declare -a order=()
while IFS= read -r line || [[ -n $line ]]; do
  [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
  [[ $line =~ ^([A-Z_][A-Z0-9_]*)=(.*)$ ]] || die "bad line in $env_file: $line"
  key=${BASH_REMATCH[1]} value=${BASH_REMATCH[2]}
  [[ $value =~ ^[A-Za-z0-9._:/@%+=,-]+$ ]] || die "$key: value '$value' has unsupported characters"
  [[ -v "config[$key]" ]] || order+=("$key")
  config[$key]=$value
done < "$env_file"
for key in "${REQUIRED_KEYS[@]}"; do
  [[ -v "config[$key]" ]] || die "$env_file: $key is missing"
done
for key in FRONT_PORT BROADCAST_PORT; do
  if ! [[ ${config[$key]} =~ ^[0-9]+$ ]] || ((config[$key] < 1 || config[$key] > 65535)); then
    die "$key: must be a TCP port, got '${config[$key]}'"
  fi
done

# --- python and venv ----------------------------------------------------------------------------
python_ok() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }
if [[ -z $python ]]; then
  if ! command -v python3.12 >/dev/null && command -v dnf >/dev/null; then
    log "installing python3.12 with dnf"
    dnf install -y -q python3.12 python3.12-pip
  fi
  if command -v python3.12 >/dev/null; then
    python=$(command -v python3.12)
  elif command -v python3 >/dev/null && python_ok python3; then
    python=$(command -v python3)
  else
    die "no Python >= 3.11 found: pass --python"
  fi
fi
python_ok "$python" || die "--python $python is not Python >= 3.11"

venv=$prefix/venv
if [[ -x $venv/bin/python ]] \
   && [[ $("$venv/bin/python" -c 'import sys; print(sys.version_info[:2])') \
         == $("$python" -c 'import sys; print(sys.version_info[:2])') ]]; then
  log "reusing $venv"
else
  rm -rf "$venv"
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$src"
[[ -x $venv/bin/lambda-admm ]] || die "$src did not install the lambda-admm command"

# --- the service's environment ------------------------------------------------------------------
env_out=$prefix/scheduler.env
(
  umask 077
  tmp=$(mktemp "$env_out.XXXXXX")
  for key in "${order[@]}"; do printf '%s=%s\n' "$key" "${config[$key]}"; done > "$tmp"
  mv -f "$tmp" "$env_out"
)
mkdir -p "$(dirname "$log_file")"
command=("$venv/bin/lambda-admm" serve)

# --- run it -------------------------------------------------------------------------------------
if ((systemd)); then
  id -u "$user" >/dev/null 2>&1 || useradd --system --no-create-home --shell /sbin/nologin "$user"
  unit_text="[Unit]
Description=lambda-admm scheduler (SQS job runner, ZMQ front and broadcast)
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
User=$user
WorkingDirectory=$prefix
EnvironmentFile=$env_out
ExecStart=${command[*]}
Restart=always
RestartSec=5
StandardOutput=append:$log_file
StandardError=append:$log_file

[Install]
WantedBy=multi-user.target
"
  unit_path=/etc/systemd/system/$UNIT
  if [[ ! -f $unit_path ]] || [[ $(<"$unit_path") != "${unit_text%$'\n'}" ]]; then
    printf '%s' "$unit_text" > "$unit_path"
    systemctl daemon-reload
  fi
  systemctl enable "$UNIT"
  systemctl restart "$UNIT"
  log "started $UNIT (log: $log_file)"
else
  pid_file=$prefix/scheduler.pid
  if [[ -f $pid_file ]]; then
    old=$(<"$pid_file")
    if [[ $old =~ ^[0-9]+$ ]] && kill -0 "$old" 2>/dev/null; then
      log "stopping the running scheduler (pid $old)"
      kill "$old"
      for _ in $(seq 50); do kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$old" 2>/dev/null && kill -9 "$old"
    fi
    rm -f "$pid_file"
  fi
  env_args=()
  for key in "${order[@]}"; do env_args+=("$key=${config[$key]}"); done
  cd "$prefix"
  nohup env "${env_args[@]}" "${command[@]}" >> "$log_file" 2>&1 < /dev/null &
  echo $! > "$pid_file"
  log "started the scheduler in the background (pid $!, log: $log_file)"
fi
