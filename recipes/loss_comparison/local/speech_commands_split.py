"""Does a Speech Commands sample allow a keyword comparison on unseen speakers? Counts the
corpus's speaker-disjoint split (fold 1 train, 2 validation, 3 test, from
data_prep/speech_commands.py) and the 95% Wilson interval of an accuracy on its test clips.

Usage: python local/speech_commands_split.py MANIFEST OUT.md
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from audiocs.fileio import atomic_write
from audiocs.manifest import read_manifest
from audiocs.report import wilson_interval


def main(manifest: str, out: str) -> int:
    rows = read_manifest(manifest)
    words = sorted({r.label_name for r in rows})
    train = Counter(r.label_name for r in rows if r.fold == 1)
    test = [r for r in rows if r.fold == 3]
    speakers = Counter(r.speaker for r in rows)
    low, high = wilson_interval(len(test) / 2, len(test))
    per_word = sorted(train.get(w, 0) for w in words)
    lines = [
        "## Speech Commands sample: keyword accuracy on unseen speakers", "",
        f"Command: `python recipes/loss_comparison/local/speech_commands_split.py {manifest} {out}`",
        "",
        f"- {len(rows)} clips of {len(words)} words from {len(speakers)} speakers "
        f"({sum(n for _, n in speakers.most_common(5))} clips from the 5 most frequent).",
        f"- The corpus's speaker-disjoint split: {sum(train.values())} training clips "
        f"({per_word[0]}-{per_word[-1]} per word, median {per_word[len(per_word) // 2]}), "
        f"{sum(1 for r in rows if r.fold == 2)} validation, {len(test)} test clips covering "
        f"{len({r.label_name for r in test})} of the {len(words)} words.",
        f"- An accuracy near 0.5 measured on {len(test)} test clips has a 95% Wilson interval "
        f"of [{low:.2f}, {high:.2f}] (±{(high - low) / 2 * 100:.0f} points).",
        "",
        f"Not compared: a difference between two losses would have to exceed about "
        f"{(high - low) / 2 * 100:.0f} points to show on {len(test)} test clips, and the "
        f"models would learn each word from {per_word[0]}-{per_word[-1]} clips.", ""]
    with atomic_write(Path(out)) as f:
        f.write("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
