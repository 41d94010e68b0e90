"""Decoding a group of samples with an encoder-decoder: the encoder reads every prompt once, then the decoder
writes all rows together, one token a step, each row with its own sampling settings and seed.

A loop of our own rather than `generate`: the rows' tokens are chosen by the same sampler as the causal engine's
(so temperature, top-p, top-k, seeds and logprobs mean the same), each row ends on its own end-of-sequence, stop
string, max_tokens or cancellation (ignore_eos included, which `generate` cannot honour per row), and a finished
row leaves the batch at once, its cache rows with it."""

from __future__ import annotations

import torch
from transformers.modeling_outputs import BaseModelOutput

from worker.serving.loading import LoadedModel
from worker.serving.sampling import RowSampling
from worker.serving.sequence import Sequence


def _encoder_inputs(loaded: LoadedModel, group: list[Sequence]) -> tuple[torch.Tensor, torch.Tensor]:
    """Prompt ids and attention mask, right-padded (the encoder attends both ways: where padding sits is moot)."""
    width = max(s.prompt_len for s in group)
    pad = loaded.tokenizer.pad_token_id or 0
    ids = torch.full((len(group), width), pad, dtype=torch.long)
    mask = torch.zeros((len(group), width), dtype=torch.long)
    for i, seq in enumerate(group):
        ids[i, :seq.prompt_len] = torch.tensor(seq.request.prompt_ids)
        mask[i, :seq.prompt_len] = 1
    return ids.to(loaded.device), mask.to(loaded.device)


@torch.inference_mode()
def decode(loaded: LoadedModel, group: list[Sequence]) -> int:
    """Write every sample of `group` to its end, delivering each request as its last sample ends; returns the
    number of decoder steps."""
    model, tokenizer = loaded.model, loaded.tokenizer
    ids, mask = _encoder_inputs(loaded, group)
    rows = list(group)
    sampling = RowSampling([s.params for s in rows], [s.generator for s in rows], loaded.device)
    tokens = torch.full((len(rows), 1), loaded.extras["decoder_start_token_id"], dtype=torch.long,
                        device=loaded.device)
    encoded: BaseModelOutput | None = None
    cache = None
    steps = 0
    while rows:
        if encoded is None:
            out = model(input_ids=ids, attention_mask=mask, decoder_input_ids=tokens, use_cache=True)
            encoded = BaseModelOutput(last_hidden_state=out.encoder_last_hidden_state)
        else:
            out = model(encoder_outputs=encoded, attention_mask=mask, decoder_input_ids=tokens,
                        past_key_values=cache, use_cache=True)
        cache = out.past_key_values
        picked, logprobs = sampling.pick(out.logits[:, -1, :].float())
        steps += 1
        keep = []
        for i, (seq, token) in enumerate(zip(rows, picked.tolist(), strict=True)):
            if seq.request.cancelled:
                continue
            if seq.append(token, logprobs[i], tokenizer):
                seq.request.sequence_done(tokenizer)
            else:
                keep.append(i)
        if len(keep) < len(rows):
            if not keep:
                break
            # Finished rows leave: their encoder states, mask and both caches (self- and cross-attention) go too.
            index = torch.tensor(keep, dtype=torch.long, device=loaded.device)
            cache.batch_select_indices(index)
            encoded = BaseModelOutput(last_hidden_state=encoded.last_hidden_state.index_select(0, index))
            mask, picked = mask.index_select(0, index), picked.index_select(0, index)
            rows = [rows[i] for i in keep]
            sampling = RowSampling([s.params for s in rows], [s.generator for s in rows], loaded.device)
        tokens = picked[:, None]
    return steps
