"""Text for language models: tokenizers, corpora, and batches of token windows.

    tok = ns.data.text.CharTokenizer.from_text(text)      # or ByteTokenizer() for any text
    tok = ns.data.text.BPETokenizer.train(text, vocab_size=1024)   # byte-level BPE, any text
    ids = tok.encode(text); tok.decode(ids); tok.save(path); load_tokenizer(path)
    text = ns.data.text.load_fortunes()                    # after `nnscratch data fetch fortunes`
    text = ns.data.text.read_text(path)                    # a user's own file
    train_ids, val_ids = ns.data.text.split_text(ids, train_fraction=0.9)   # by position
    TokenWindows(train_ids, block_size)                    # Dataset of (x, y) windows
    StatefulBatches(train_ids, batch_size, seq_len)        # lanes for truncated BPTT
"""

from .bpe import BPETokenizer
from .corpus import (
    FORTUNE_FILES,
    decode_text,
    find_fortunes,
    fortune_entries,
    fortunes_cache_dir,
    fortunes_search_dirs,
    holds_fortunes,
    load_fortunes,
    read_text,
    split_text,
)
from .tokenizers import (
    ByteTokenizer,
    CharTokenizer,
    load_tokenizer,
    printable,
    tokenizer_from_json,
)
from .windows import StatefulBatches, TokenWindows

__all__ = [
    "FORTUNE_FILES", "BPETokenizer", "ByteTokenizer", "CharTokenizer", "StatefulBatches",
    "TokenWindows", "decode_text", "find_fortunes", "fortune_entries", "fortunes_cache_dir",
    "fortunes_search_dirs", "holds_fortunes", "load_fortunes", "load_tokenizer", "printable",
    "read_text", "split_text", "tokenizer_from_json",
]
