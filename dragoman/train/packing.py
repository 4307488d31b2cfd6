"""Rows for causal-LM training: packed (several examples per row, no attention across them) or padded.

An example is (input_ids, labels) with labels = -100 where no loss is taken. Packed rows carry position_ids
that restart at 0 for each example and no attention_mask: transformers then builds a block-diagonal causal
mask from the position_ids (masking_utils.find_packed_sequence_indices) for SDPA and eager attention alike,
so a token never attends to another example (tests/test_training.py checks logits equal the unpacked run).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

IGNORE = -100


@dataclass
class Row:
    input_ids: list[int]
    labels: list[int]
    position_ids: list[int]
    attention_mask: list[int]  # 1 = real token; packed rows use it only to count tokens


def chunk(ids: list[int], labels: list[int], seq_len: int) -> list[tuple[list[int], list[int]]]:
    """Split an example longer than a row into row-sized pieces (CPT documents; SFT examples are cut instead)."""
    return [(ids[i:i + seq_len], labels[i:i + seq_len]) for i in range(0, len(ids), seq_len)]


def pack(examples: list[tuple[list[int], list[int]]], seq_len: int, pad_id: int) -> list[Row]:
    """Greedy in-order packing: append examples to the current row until the next one does not fit."""
    rows: list[Row] = []
    cur = Row([], [], [], [])

    def flush():
        nonlocal cur
        if cur.input_ids:
            n = seq_len - len(cur.input_ids)
            # the tail is its own "example" of pads (positions restart) so it never joins a real one
            cur.input_ids += [pad_id] * n
            cur.labels += [IGNORE] * n
            cur.position_ids += list(range(n))
            cur.attention_mask += [0] * n
            rows.append(cur)
        cur = Row([], [], [], [])

    for ids, labels in examples:
        for piece_ids, piece_labels in chunk(ids, labels, seq_len):
            if len(cur.input_ids) + len(piece_ids) > seq_len:
                flush()
            cur.input_ids += piece_ids
            cur.labels += piece_labels
            cur.position_ids += list(range(len(piece_ids)))
            cur.attention_mask += [1] * len(piece_ids)
    flush()
    return rows


def pad(examples: list[tuple[list[int], list[int]]], seq_len: int, pad_id: int) -> list[Row]:
    """One example per row (cut to seq_len), right-padded to seq_len: the baseline packing is measured against."""
    rows = []
    for ids, labels in examples:
        ids, labels = ids[:seq_len], labels[:seq_len]
        n = seq_len - len(ids)
        rows.append(Row(ids + [pad_id] * n, labels + [IGNORE] * n, list(range(seq_len)), [1] * len(ids) + [0] * n))
    return rows


def collate(rows: list[Row], packed: bool) -> dict[str, torch.Tensor]:
    batch = {"input_ids": torch.tensor([r.input_ids for r in rows]),
             "labels": torch.tensor([r.labels for r in rows]),
             "position_ids": torch.tensor([r.position_ids for r in rows])}
    if not packed:  # padded rows need the padding mask; packed rows must not have one (see module doc)
        batch["attention_mask"] = torch.tensor([r.attention_mask for r in rows])
    return batch
