"""The stages of a run, each a generator over batches of frames (see DEVELOPERS.md):

source (demux, decode, resume) -> model (L -> ab) -> smoothing (ab along motion, cuts) -> colour
(Cb/Cr planes, Y plane copied) -> segments (encoders, checkpoint) ... assembly (the output file).

`vidcolor.run` builds them from the options and hands them to `vidcolor.pipeline`. What they
share travels with the frames (`FrameItem`) or in the run's `RunContext`.
"""
