"""Building the TRL trainer (SFT, DPO or KTO) for a run spec."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from worker.training.config import RunSpec
from worker.training.errors import ConfigError


def training_args(spec: RunSpec, *, bf16: bool, max_length: int | None, overrides: dict | None = None) -> Any:
    """The TRL config (SFTConfig, DPOConfig or KTOConfig) for the spec; `overrides` (the speed plan's micro-batch)
    replace fields of it."""
    import torch

    hp = spec.hyperparameters
    common: dict[str, Any] = dict(
        output_dir=str(Path(spec.output_dir) / "checkpoints"), learning_rate=hp.learning_rate,
        num_train_epochs=hp.num_train_epochs, max_steps=hp.max_steps,
        per_device_train_batch_size=hp.per_device_train_batch_size,
        per_device_eval_batch_size=hp.per_device_train_batch_size,
        gradient_accumulation_steps=hp.gradient_accumulation_steps, seed=hp.seed, data_seed=hp.seed,
        logging_strategy="steps", logging_steps=hp.logging_steps, save_strategy="steps", save_steps=hp.save_steps,
        # Two checkpoints: the latest to resume from, and the one before in case the latest was cut short.
        save_total_limit=2, warmup_steps=hp.warmup_ratio, lr_scheduler_type=hp.lr_scheduler_type, bf16=bf16,
        eval_strategy="no",
        # Small adapters on small models train faster without recomputation; TRL defaults it on.
        gradient_checkpointing=False, report_to=[], disable_tqdm=True,
        include_num_input_tokens_seen="non_padding", ddp_find_unused_parameters=False,
        dataloader_num_workers=0, dataloader_pin_memory=torch.cuda.is_available(),
        # Without it, accelerate sets up no CPU process group under torchrun and each process trains alone.
        use_cpu=not torch.cuda.is_available(),
    )
    common.update(overrides or {})
    if spec.method == "sft":
        from trl import SFTConfig

        return SFTConfig(**common, max_length=max_length, packing=hp.packing, padding_free=hp.padding_free,
                         completion_only_loss=True, eval_packing=False)
    if spec.method == "dpo":
        from trl import DPOConfig

        return DPOConfig(**common, max_length=max_length, beta=hp.beta, padding_free=hp.padding_free)
    if spec.method == "reward":
        from trl import RewardConfig

        return RewardConfig(**common, max_length=max_length)
    from trl import KTOConfig

    return KTOConfig(**common, max_length=max_length, beta=hp.beta)


def _row_packing_collator(pad_token_id: int) -> Any:
    """TRL's collator with packed rows kept apart in the batch and no attention mask.

    TRL flattens a padding-free batch into one row, which FlashAttention's variable-length kernels handle in linear
    time; SDPA and eager attention instead build a (batch x max_length)^2 mask. Kept apart, each row's position ids
    restart at every packed sample, and transformers masks each row block-diagonally from them: the same
    attention (no sample sees another), at max_length^2 per row."""
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    class RowPackingCollator(DataCollatorForLanguageModeling):
        def torch_call(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
            batch = super().torch_call(examples)
            batch.pop("attention_mask")  # with a mask, the packed-sample boundaries in position_ids are ignored
            return batch

    return RowPackingCollator(pad_token_id=pad_token_id, return_position_ids=True)


def build_trainer(spec: RunSpec, *, model: Any, tokenizer: Any, args: Any, train_dataset: Any,
                  eval_dataset: Any, peft_config: Any, callbacks: list) -> Any:
    """The TRL trainer for the method; settings it rejects become config errors."""
    kwargs = dict(model=model, args=args, train_dataset=train_dataset, eval_dataset=eval_dataset,
                  processing_class=tokenizer, peft_config=peft_config, callbacks=callbacks)
    try:
        if spec.method == "sft":
            from trl import SFTTrainer

            trainer = SFTTrainer(**kwargs)
            attention = getattr(trainer.model.config, "_attn_implementation", "") or ""
            # Flash and our varlen attention read the samples' boundaries from TRL's flattened padding-free batch.
            if spec.hyperparameters.packing and "flash" not in attention and attention != "tuneloop_varlen":
                trainer.data_collator = _row_packing_collator(tokenizer.pad_token_id)
            return trainer
        if spec.method == "dpo":
            from trl import DPOTrainer

            return DPOTrainer(**kwargs)
        if spec.method == "reward":
            from trl import RewardTrainer

            return RewardTrainer(**kwargs)
        from trl import KTOTrainer

        return KTOTrainer(**kwargs)
    except (ValueError, TypeError, NotImplementedError) as exc:
        raise ConfigError(f"the {spec.method.upper()} trainer rejected the settings: {exc}") from exc
