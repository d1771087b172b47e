"""One module per ``hf-delrec`` verb (``train_teacher.py`` is ``hf-delrec train-teacher``); each has ``main(argv)``."""
