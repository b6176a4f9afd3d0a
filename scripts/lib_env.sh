# shellcheck shell=bash
# Shared helpers for scripts/*: finding interpreters and keeping virtual environments in step
# with a requirements file. Sourced, not run.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"

# Home Assistant 2025.4.4 (the oldest supported) needs exactly Python >= 3.13.0;
# the version is pinned in .python-version and pyenv provides it on this machine kind.
MIN_PYTHON_VERSION="$(tr -d '[:space:]' <"$REPO_ROOT/.python-version")"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# The interpreter for the oldest supported Home Assistant: $PYTHON if set, else pyenv's
# copy of the .python-version release, else a python3.13 on PATH of that exact release.
find_min_python() {
    local candidate
    for candidate in "${PYTHON:-}" \
        "${PYENV_ROOT:-$HOME/.pyenv}/versions/$MIN_PYTHON_VERSION/bin/python3" \
        "$(command -v "python${MIN_PYTHON_VERSION%.*}" || true)"; do
        if [ -z "$candidate" ] || [ ! -x "$candidate" ]; then continue; fi
        if [ "$("$candidate" -c 'import platform; print(platform.python_version())')" = "$MIN_PYTHON_VERSION" ] \
            || [ -n "${PYTHON:-}" ]; then
            echo "$candidate"
            return 0
        fi
    done
    die "Python $MIN_PYTHON_VERSION not found (install it with pyenv, or set PYTHON=/path/to/python3.13)"
}

# pip warns once per package about this machine's optional local indexes when they are absent.
without_pip_noise() { grep -v "is ignored: it is" || true; }

# ensure_venv VENV PYTHON REQUIREMENTS...
# Creates VENV with PYTHON if needed and installs the requirements files into it. A stamp
# file holds a hash of the interpreter version and of every requirements file, so a second
# call with nothing changed returns at once, and any change reinstalls.
ensure_venv() {
    local venv="$1" python="$2"
    shift 2
    local stamp="$venv/.requirements.sha256" wanted
    wanted="$( { "$python" -c 'import sys; print(sys.version)'; cat "$@"; } | sha256sum | cut -d' ' -f1)"
    if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
        return 0
    fi
    if [ ! -x "$venv/bin/python" ] \
        || [ "$("$venv/bin/python" -c 'import sys; print(sys.version)')" != "$("$python" -c 'import sys; print(sys.version)')" ]; then
        log "creating $venv with $("$python" --version)"
        rm -rf "$venv"
        "$python" -m venv "$venv"
    fi
    log "installing $* into $venv (pip's cache makes repeats fast)"
    local args=() req
    for req in "$@"; do args+=(-r "$req"); done
    { "$venv/bin/python" -m pip install --quiet --upgrade pip 2>&1 1>&3 | without_pip_noise >&2; } 3>&1
    { "$venv/bin/python" -m pip install --quiet "${args[@]}" 2>&1 1>&3 | without_pip_noise >&2; } 3>&1
    echo "$wanted" >"$stamp"
}
