#!/usr/bin/env python3
"""Writes Tests/Fixtures/tokenizer_cases.json: truth for the Swift BPE tokenizer.

Every case is encoded and decoded by the real Hugging Face `tokenizers` library
(pinned tokenizers==0.23.3) from MiniMind's ../shared/fixtures/tokenizer.json:

  ids                   Tokenizer.encode(text, add_special_tokens=False).ids
  decoded               Tokenizer.decode(ids, skip_special_tokens=False)
  decoded_skip_special  Tokenizer.decode(ids, skip_special_tokens=True)
  round_trips           decoded == text
  pieces                Tokenizer.decode([id], skip_special_tokens=False) for each id
                        (single tokens may hold part of a UTF-8 character: lossy decoding)
  chat (some cases)     {messages, add_generation_prompt, open_thinking} whose rendering with
                        MiniMind's chat template (jinja2, as transformers does) is `text`

add_special_tokens=False is what matters for MiniMind: its tokenizer has no post-processor,
and its inference code writes special tokens into the text itself (the chat template, or
`bos_token + prompt` for pretrained weights), which the tokenizer then matches literally.

Run with the project venv (it pins tokenizers==0.23.3):
    "$(scripts/ensure_venv.sh | tail -n 1)" scripts/make_tokenizer_cases.py
"""
import json
import pathlib
import random
import sys

import tokenizers
from tokenizers import Tokenizer

PINNED = "0.23.3"
ROOT = pathlib.Path(__file__).resolve().parent.parent
TOKENIZER = ROOT.parent / "shared" / "fixtures" / "tokenizer.json"
TOKENIZER_CONFIG = TOKENIZER.parent / "tokenizer_config.json"
OUTPUT = ROOT / "Tests" / "Fixtures" / "tokenizer_cases.json"

CASES = [
    "",
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "你好，世界！",
    "我是一个由MiniMind训练的人工智能助手。",
    "为什么天空是蓝色的？请用Python写一个计算斐波那契数列的函数。",
    "Mixed 中英文 text with 数字123和English混合。",
    "Punctuation: !!! ??? ... --- ;;; ::: \"quoted\" (paren) [bracket] {brace} <angle>",
    "Digits: 0 1 12 123 1234 12345 3.14159 -42 1e10 2024-01-01",
    "Emoji: 😀 🎉👍 👨‍👩‍👧‍👦 🇨🇳 👍🏽 ❤️",
    "multiple   spaces    here",
    "newlines\n\nand\n\n\nmore\r\nwindows",
    "tabs\tand\t\tmixed \t whitespace",
    "   leading spaces",
    "trailing spaces   ",
    " single leading and trailing ",
    "\n",
    " ",
    "\t\n \n",
    "<|im_start|>user\n你好<|im_end|>\n",
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n解释什么是机器学习<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>你好",
    "<|im_start|><|im_end|><|endoftext|>",
    "<|im_start <|im_end| im_end|> <|unknown|>",
    "<think>\n推理过程\n</think>\n答案<tool_call>{\"name\": \"f\"}</tool_call>",
    "It's I'm you're we've they'll he'd don't",
    "IT'S I'M YOU'RE 's 't 're 've 'm 'll 'd '",
    "rock 'n' roll, ''quoted'', '''triple'''",
    "生僻字：龘靐齉爩麤鱻 𠀀𪚥𰻞",
    "日本語のテキスト、カタカナとひらがな。",
    "한국어 텍스트입니다.",
    "Ελληνικά και русский текст, العربية, हिन्दी",
    "café naïve résumé — e\u0301 combining",
    "\u00a0nbsp\u3000ideographic\u2028line\u2029para\u0085nel\u200bzwsp",
    "full-width ＡＢＣ１２３！ and ² ³ ½ Ⅻ ① numbers",
    "code: def f(x):\n    return x ** 2  # square\n",
    "https://example.com/path?query=1&b=2#frag user@example.com",
    "a" * 50,
    "中" * 40,
    "!!!!!!!!!!!!!!!!!!!!",
    "\x00\x01\x1f control \x7f chars",
    "  \n  indented\n    block\n",
    "end with newline\n",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math 𝟙𝟚𝟛",
]


# Seeded random strings over characters that stress the pre-tokenizer split and added-token
# matching (Unicode spaces, apostrophes, combining marks, emoji parts, token fragments).
RANDOM_POOL = list("abXYZ sStmdrevl'\"0129 \t\n\r  ,.!?-_/()<>|") + [
    "\u00a0", "\u3000", "\u2028", "\u0085", "\u200b", "\u0301", "é", "ß", "中", "你", "好", "，", "。",
    "😀", "👍🏽", "\u200d", "🇨🇳", "龘", "𠀀", "Ⅻ", "²", "１", "Ａ", "<|im_start|>", "<|im_end|>", "<think>",
    "<|im_", "_end|>", "Ġ", "Ċ", "\x00", "\ufeff", "ǅ", "ʰ", "ا", "ि", "\U0001D7D9",
]


def random_cases(count=16, seed=1234):
    rng = random.Random(seed)
    return ["".join(rng.choice(RANDOM_POOL) for _ in range(rng.randint(1, 30))) for _ in range(count)]


# Conversations rendered with MiniMind's chat template from tokenizer_config.json by jinja2
# (as transformers' apply_chat_template does); the rendered text is an encode case too.
CHATS = [
    ([{"role": "user", "content": "你好"}], True, False),
    ([{"role": "user", "content": "为什么天空是蓝色的"}], True, True),
    ([{"role": "system", "content": "You are a helpful assistant."},
      {"role": "user", "content": "解释什么是机器学习"}], True, False),
    ([{"role": "user", "content": "1+1=?"},
      {"role": "assistant", "content": "<think>\n想一想\n</think>\n\n等于2"},
      {"role": "user", "content": "再说一遍\r\n"}], True, False),
    ([{"role": "system", "content": "s"}, {"role": "user", "content": "q"},
      {"role": "assistant", "content": "\n\nplain answer\n"}, {"role": "system", "content": "late system"}], False, False),
]


def render_chat(messages, add_generation_prompt, open_thinking):
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    config = json.loads(TOKENIZER_CONFIG.read_text(encoding="utf-8"))
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    template = env.from_string(config["chat_template"])
    return template.render(messages=messages, add_generation_prompt=add_generation_prompt,
                           open_thinking=open_thinking, tools=None)


def long_case():
    """A few KB of mixed text, for the timing test as well as correctness."""
    parts = [c for c in CASES if c and "<|" not in c]
    return "\n".join(parts * 4)


def main():
    if tokenizers.__version__ != PINNED:
        sys.exit(f"need tokenizers=={PINNED}, found {tokenizers.__version__}")
    tok = Tokenizer.from_file(str(TOKENIZER))
    chats = {}
    for messages, add_generation_prompt, open_thinking in CHATS:
        text = render_chat(messages, add_generation_prompt, open_thinking)
        chats[text] = {"messages": messages, "add_generation_prompt": add_generation_prompt,
                       "open_thinking": open_thinking}
    out = []
    for text in CASES + random_cases() + list(chats) + [long_case()]:
        ids = tok.encode(text, add_special_tokens=False).ids
        decoded = tok.decode(ids, skip_special_tokens=False)
        out.append({
            "text": text,
            "ids": ids,
            "decoded": decoded,
            "decoded_skip_special": tok.decode(ids, skip_special_tokens=True),
            "round_trips": decoded == text,
            "pieces": [tok.decode([i], skip_special_tokens=False) for i in ids],
        })
        if text in chats:
            out[-1]["chat"] = chats[text]
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    with open(OUTPUT, "w", encoding="utf-8") as f:
        f.write("[\n")
        f.write(",\n".join(json.dumps(case, ensure_ascii=False) for case in out))
        f.write("\n]\n")
    print(f"wrote {len(out)} cases to {OUTPUT} ({sum(1 for c in out if not c['round_trips'])} do not round-trip)")


if __name__ == "__main__":
    main()
