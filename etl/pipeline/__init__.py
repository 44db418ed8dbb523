"""The engine: steps, the Spark executor, stage accounting, inputs, the release run."""
