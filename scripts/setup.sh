#!/usr/bin/env bash
# Idempotent setup: Debian packages (when we may install them), .venv with the Python requirements,
# compiled translations. Prints exactly what is missing and what degrades when it cannot install.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
DEB_PACKAGES=(espeak-ng mosquitto mosquitto-clients chromium sox fonts-wqy-microhei sip-tester)
declare -A DEGRADES=(
  [espeak-ng]="no speech output: TV 读给我听 and phone prompts fall back to the provider's own voice"
  [mosquitto]="no production broker and no Mosquitto tests; the embedded broker still works"
  [mosquitto-clients]="no mosquitto_passwd for 'xiaoyuan broker export' checks"
  [chromium]="no browser (end-to-end TV) tests and no TV benchmark"
  [sox]="no audio conversion fallback for recordings"
  [fonts-wqy-microhei]="Chinese text renders as empty boxes in browser screenshots"
  [sip-tester]="no SIPp: the SIP test with an independent caller is skipped"
)

missing=()
for pkg in "${DEB_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO="none"; fi
  if [[ "$SUDO" != "none" ]]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: cannot install Debian packages (not root, no passwordless sudo). Missing:"
    for pkg in "${missing[@]}"; do echo "  - $pkg: ${DEGRADES[$pkg]}"; done
    echo "  install them with: sudo apt-get install ${missing[*]}"
  fi
fi

if [[ ! -x .venv/bin/python ]]; then
  echo "setup: creating .venv"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.requirements.sha256
want=$(cat requirements.txt requirements-dev.txt requirements-sip.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [[ ! -f $stamp || "$(cat $stamp)" != "$want" ]]; then
  echo "setup: installing Python requirements"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements-dev.txt
  # The optional SIP endpoint (GPLv2 PJSIP): installed here for its tests; a deployment chooses it.
  .venv/bin/python -m pip install -q -r requirements-sip.txt || echo "setup: pjsua2-python did not install: SIP tests skip"
  # setuptools' build backend warns on every editable install ("Editable installation. … folders with the
  # same name as your package …", ten lines): pip passes the environment to the backend, whose warning
  # filter drops just that one. Other warnings and every error still print.
  PYTHONWARNINGS="ignore:Editable installation" .venv/bin/python -m pip install -q --no-deps -e .
  echo "$want" > "$stamp"
fi

# Compiled message catalogues (.mo) are build output; the .po files are the source. Without them every
# page and message is Chinese only, so a failure here stops setup with pybabel's own error.
if ! .venv/bin/pybabel -q compile -d core/translations -D messages; then
  echo "setup: compiling the translations (core/translations/*/LC_MESSAGES/messages.po) failed: see above" >&2
  exit 1
fi
