#!/usr/bin/env python3
"""Trains the small test tokenizers and writes the tokenizer golden data, with Hugging Face
`tokenizers` (pip install tokenizers; no network needed).

    python3 test/llm/make_tokenizers.py [--out test/llm]

Writes OUT/tokenizers/NAME/tokenizer.json for each style below and
OUT/golden/tokenizer_cases.json: for every tokenizer and test string, the ids with and
without special tokens and the decoded text, plus decodes of arbitrary id lists (partial
UTF-8, byte tokens, specials). test/unit/tokenizer_test.cpp checks chitu against it exactly.
Rerun after changing the corpus, the styles or the strings, and commit the result. The
SentencePiece-style vocabularies differ from run to run (the trainer's alphabet limit breaks
ties arbitrarily); the goldens are always made from the files written alongside them.

Styles (each built the way the real family's tokenizer.json is):
  llama3   byte-level BPE, Llama 3 split regex, ignore_merges, BOS template, many specials
  qwen2    NFC normalizer, Qwen2 split regex, byte-level, ChatML specials, no BOS
  gpt2     byte-level with the built-in GPT-2 regex, add_prefix_space, individual digits,
           merges in the legacy "a b" form, a single_word added token
  llama2   SentencePiece-style: Prepend + Replace normalizer, no pre-tokenizer, byte
           fallback, fused <unk>, Replace/ByteFallback/Fuse/Strip decoder, <s> template
  mistral  SentencePiece-style with the Metaspace pre-tokenizer (prepend_scheme "first") and
           ByteFallback + Metaspace decoder, lstrip/rstrip added tokens
"""
import argparse
import json
import os
import random

from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, \
    trainers, Regex

HERE = os.path.dirname(os.path.abspath(__file__))

CORPUS = """\
The quick brown fox jumps over the lazy dog. It's a sunny day, isn't it? We'll see; they've
gone home and I'm staying. She'd said: "Don't worry." He'll be fine, won't he?
Large language models predict the next token. A tokenizer turns text into tokens, and the
model turns tokens into probabilities. Tokenization, normalization and pre-tokenization are
steps of the pipeline. Compilers lower graphs into kernels; kernels run on GPUs.
In 2024, about 1,234,567 people visited; the price was $19.99 (or 17.50 EUR) on 03/04/2025.
def forward(self, x):
    return self.proj(x) + x  # residual
for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }
if x == 0 and y != 1:
\tprint("tab indented")
Le café est très bon. Où est la gare ? Ça va très bien, merci. Élève, garçon, naïve.
Die Straße ist groß und schön. Über den Wolken muss die Freiheit wohl grenzenlos sein.
El niño comió una manzana. ¿Dónde está la biblioteca? ¡Qué día más bonito!
机器学习是人工智能的一个分支。今天天气很好，我们去公园散步吧。
東京は日本の首都です。ひらがなとカタカナを勉強しています。
안녕하세요. 한국어를 배우고 있습니다.
Привет, как дела? Спасибо, хорошо.
Emoji: 😀 😂 👍 🎉 ❤️ 🚀 — and more… “quoted” ‘text’ «guillemets»
Numbers: 0 1 2 3 4 5 6 7 8 9 10 100 1000 3.14159 2.71828 -42 +7 1e-5 0x1F
Whitespace:  two  spaces,   three,    four; tabs\t\there; newlines

and blank lines.
"""

TEST_STRINGS = [
    "",
    " ",
    "Hello world",
    "Hello, world! How are you?",
    " leading space",
    "trailing space ",
    "  two leading spaces",
    "multiple   spaces    between     words",
    "tabs\tand\t\ttabs",
    "line one\nline two\n\nline four\n",
    "windows\r\nline\r\nendings",
    "\n\n\n",
    "   \n  \t \n",
    "It's they're we've I'm you'll he'd IT'S THEY'RE",
    "numbers 0 12 345 6789 1234567890 3.14159 -42 1,000,000",
    "x=1;y=2;z=x+y*3/4-5%6",
    "punctuation!!! ??? ... --- ((()))) [[]] {{}} <<>> @#$%^&*_~`|\\",
    "quotes \"double\" 'single' “curly” ‘curly’",
    "def f(x):\n    return x ** 2  # square\n",
    "café naïve résumé Ångström",
    "cafe\u0301 nai\u0308ve",  # decomposed accents (NFC composes them)
    "Straße groß Übermaß",
    "机器学习是人工智能的一个分支",
    "東京は日本の首都です。",
    "안녕하세요 세계",
    "Привет мир",
    "emoji 😀😂👍 🎉",
    "family 👨‍👩‍👧‍👦 flag 🇯🇵 skin 👍🏽",
    "nbsp\u00a0here and ideographic\u3000space",
    "zero\u200bwidth joiner\u200d",
    "mixed 中文 and English and 日本語 123",
    "<s>",
    "</s>",
    "<unk>",
    "text with <s> inside and </s> end",
    "<|begin_of_text|>Hello<|eot_id|>",
    "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|>",
    "[INST] What is 2+2? [/INST]",
    "a <mask> b",
    "a<mask>b",
    "word<sep>word <sep> word",
    "\u2581already has the meta symbol",
    "\u00ff\u00fe raw latin-1 looking chars \u0100",
    "\x00\x01\x1f control characters \x7f",
    "\U0001F600" * 5,
    "a" * 100,
    " " * 50,
    "ab" * 40,
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
]

LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def corpus_lines():
    return CORPUS.splitlines() * 3


def byte_level_trainer(vocab_size, specials):
    return trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False,
                               initial_alphabet=pre_tokenizers.ByteLevel.alphabet())


def make_llama3():
    t = Tokenizer(models.BPE())
    t.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)])
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                "<|end_header_id|>", "<|eot_id|>"] + ["<|reserved_special_token_%d|>" % i
                                                      for i in range(4)]
    t.train_from_iterator(corpus_lines(), byte_level_trainer(700, specials))
    t.decoder = decoders.ByteLevel()
    t.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|begin_of_text|> $A",
                                      pair="<|begin_of_text|> $A <|begin_of_text|> $B",
                                      special_tokens=[("<|begin_of_text|>",
                                                       t.token_to_id("<|begin_of_text|>"))])])
    d = json.loads(t.to_str())
    # Llama 3 sets ignore_merges: a word already in the vocabulary is one token even where
    # the merges would build it differently. Add whole words the merges cannot reach.
    d["model"]["ignore_merges"] = True
    vocab = d["model"]["vocab"]
    for word in ["Ġtokenization", "ĠĠĠĠ", "Ġ123", "ĠEmoji"]:
        if word not in vocab:
            vocab[word] = max(vocab.values()) + 1
    # Keep the added tokens' ids after the vocabulary's, as Llama 3's are.
    return d


def make_qwen2():
    t = Tokenizer(models.BPE())
    t.normalizer = normalizers.NFC()
    t.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)])
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    t.train_from_iterator(corpus_lines(), byte_level_trainer(650, specials))
    t.decoder = decoders.ByteLevel()
    t.post_processor = processors.ByteLevel(trim_offsets=False)
    return json.loads(t.to_str())


def make_gpt2():
    t = Tokenizer(models.BPE())
    t.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)])
    t.train_from_iterator(corpus_lines(), byte_level_trainer(600, ["<|endoftext|>"]))
    t.decoder = decoders.ByteLevel()
    t.add_tokens([AddedToken("<sep>", single_word=True)])
    d = json.loads(t.to_str())
    # The legacy merges form: one "left right" string per merge.
    d["model"]["merges"] = [" ".join(m) if isinstance(m, list) else m for m in d["model"]["merges"]]
    return d


def sentencepiece_style(vocab_size, specials):
    """Trains a BPE over Metaspace words and lays the vocabulary out as SentencePiece
    conversions do: specials, then the 256 byte tokens <0x00>..<0xFF>, then the pieces."""
    t = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    t.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    t.train_from_iterator(corpus_lines(), trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, show_progress=False, limit_alphabet=120))
    d = json.loads(t.to_str())
    trained = sorted(d["model"]["vocab"].items(), key=lambda kv: kv[1])
    vocab = {}
    for tok, _ in trained[:len(specials)]:
        vocab[tok] = len(vocab)
    for b in range(256):
        vocab["<0x%02X>" % b] = len(vocab)
    for tok, _ in trained[len(specials):]:
        vocab[tok] = len(vocab)
    d["model"]["vocab"] = vocab
    for a in d["added_tokens"]:
        a["id"] = vocab[a["content"]]
    return d


def bos_template(bos_before_pair):
    """The TemplateProcessing of SentencePiece-style tokenizers: "<s> $A" (id 1)."""
    bos = {"SpecialToken": {"id": "<s>", "type_id": 0}}
    pair = [bos, {"Sequence": {"id": "A", "type_id": 0}}]
    if bos_before_pair:
        pair.append({"SpecialToken": {"id": "<s>", "type_id": 1}})
    pair.append({"Sequence": {"id": "B", "type_id": 1}})
    return {"type": "TemplateProcessing", "single": [bos, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": pair, "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}}


def make_llama2():
    d = sentencepiece_style(700, ["<unk>", "<s>", "</s>"])
    d["normalizer"] = {"type": "Sequence", "normalizers": [
        {"type": "Prepend", "prepend": "\u2581"},
        {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]}
    d["pre_tokenizer"] = None
    d["decoder"] = {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
        {"type": "ByteFallback"}, {"type": "Fuse"},
        {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
    d["post_processor"] = bos_template(bos_before_pair=True)
    return d


def make_mistral():
    d = sentencepiece_style(650, ["<unk>", "<s>", "</s>", "[INST]", "[/INST]"])
    d["normalizer"] = None
    d["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581",
                          "prepend_scheme": "first", "split": False}
    d["decoder"] = {"type": "Sequence", "decoders": [
        {"type": "ByteFallback"},
        {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False}]}
    d["post_processor"] = bos_template(bos_before_pair=False)
    # [INST] takes the spaces around it; <mask> (not special) the spaces on its left.
    for a in d["added_tokens"]:
        if a["content"] in ("[INST]", "[/INST]"):
            a["lstrip"] = a["rstrip"] = True
    d["added_tokens"].append({"id": max(d["model"]["vocab"].values()) + 1, "content": "<mask>",
                              "single_word": False, "lstrip": True, "rstrip": False,
                              "normalized": False, "special": False})
    return d


STYLES = {"llama3": make_llama3, "qwen2": make_qwen2, "gpt2": make_gpt2, "llama2": make_llama2,
          "mistral": make_mistral}


def random_strings(rng, count):
    pools = ["abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789",
             " \t\n\r  ", ".,;:!?'\"()[]{}-_/\\@#$%^&*+=<>|~`", "éèêëàâäîïôöùûüçñßøåæœ",
             "中文字符机器学习東京日本", "한국어", "Привет", "😀😂👍🎉🚀",
             "\u0301\u0308\u200b\u200d\u00a0\u3000\u2581"]
    out = []
    for _ in range(count):
        n = rng.randint(1, 40)
        out.append("".join(rng.choice(rng.choice(pools)) for _ in range(n)))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=HERE)
    args = parser.parse_args()
    rng = random.Random(1234)
    strings = TEST_STRINGS + random_strings(rng, 60)
    golden = {"tokenizers_version": __import__("tokenizers").__version__, "tokenizers": {}}
    for name, make in STYLES.items():
        d = make()
        text = json.dumps(d, ensure_ascii=False, indent=1)
        folder = os.path.join(args.out, "tokenizers", name)
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "tokenizer.json"), "w", encoding="utf-8") as f:
            f.write(text)
        tok = Tokenizer.from_str(text)
        cases = []
        for s in strings:
            ids = tok.encode(s, add_special_tokens=False).ids
            cases.append({"text": s, "ids": ids,
                          "ids_special": tok.encode(s, add_special_tokens=True).ids,
                          "decoded": tok.decode(ids, skip_special_tokens=False)})
        vocab = tok.get_vocab_size(with_added_tokens=True)
        decodes = []
        for _ in range(40):
            ids = [rng.randrange(vocab) for _ in range(rng.randint(1, 12))]
            decodes.append({"ids": ids, "text": tok.decode(ids, skip_special_tokens=False),
                            "text_skip_special": tok.decode(ids, skip_special_tokens=True)})
        golden["tokenizers"][name] = {"cases": cases, "decodes": decodes}
    os.makedirs(os.path.join(args.out, "golden"), exist_ok=True)
    with open(os.path.join(args.out, "golden", "tokenizer_cases.json"), "w",
              encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
