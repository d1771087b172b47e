"""One module per ``hf-delrec`` verb (``train_teacher.py`` is ``hf-delrec train-teacher``); each has ``main(argv)``."""


def finish_with_push(verb: str, output_dir, push, **card_fields) -> int:
    """End of a training command whose recipe may say ``push_to_hub: true``: push the written artifact (settings from
    ``hub.prepare_push``), print where it went or why it failed; the exit code (the artifact is kept either way)."""
    import sys

    from .. import hub

    try:
        url = hub.push_after_training(output_dir, push, **card_fields)
    except hub.HubError as exc:
        print(f"hf-delrec {verb}: push_to_hub: {exc}", file=sys.stderr)
        return 1
    if url:
        print(f"pushed to {url}")
    return 0
