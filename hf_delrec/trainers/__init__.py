"""Trainers, one ``<x>_config.py`` + ``<x>_trainer.py`` pair per method (teacher, distill, sft, llmsrec).

Nothing is imported here on purpose: importing one trainer must not pull in the dependencies of the others.
"""
