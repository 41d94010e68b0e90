"""Evaluation: evaluation sets, judges (LLM, reward model, humans), reference metrics, benchmarks, calibration,
runs and rounds. Pure modules (judges, winrate, lc_winrate, rouge, benchmarks, calibration) hold the arithmetic;
kinds plug evaluations into the job engine."""
