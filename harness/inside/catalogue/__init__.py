"""The catalogue of reference estimators: what each is, what it is fitted on, how it is built."""

import fnmatch



COVERAGE = {}  # {class name: "covered" | "discovered" | why not}, filled by entries()

# Why a class is left out of a matrix that asks for the hand-written catalogue only.
HAND_ONLY = "not in the hand-written catalogue this matrix uses (catalogue = \"all\" discovers it)"


def entries(discover=False):
    """Every catalogue entry, in a fixed order: the hand-written ones (models, then transformers),
    then with discover=True one per class of all_estimators() they do not cover, and every
    entry fitted the other ways (catalogue_variants: sparse, weighted, multi-output). Either way
    COVERAGE says, for every class scikit-learn lists, whether an entry covers it or why not."""
    from . import discovered as catalogue_discovered, models as catalogue_models, \
        transforms as catalogue_transforms

    out = list(catalogue_models.ENTRIES) + list(catalogue_transforms.ENTRIES)
    found, coverage = catalogue_discovered.discover(_hand_classes(out) | set(e.name for e in out))
    COVERAGE.clear()
    COVERAGE.update((name, HAND_ONLY if why == "discovered" and not discover else why)
                    for name, why in coverage.items())
    if discover:
        out += [e for e in found if e.name not in set(x.name for x in out)]
        from . import variants as catalogue_variants
        out += catalogue_variants.variants(out)
    names = [e.name for e in out]
    dupes = sorted(set(n for n in names if names.count(n) > 1))
    if dupes:
        raise ValueError("duplicate catalogue names: %s" % ", ".join(dupes))
    return out


def _hand_classes(hand):
    """Class names the hand-written entries build in this scikit-learn."""
    import warnings

    covered = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for entry in hand:
            if entry.available():
                try:
                    covered.add(type(entry.factory()).__name__)
                except Exception:  # noqa: BLE001 - the dump records the entry's own error
                    pass
    return covered


def select(all_entries, patterns):
    """Entries whose name matches any of the glob patterns (None or empty: all of them)."""
    if not patterns:
        return list(all_entries)
    return [e for e in all_entries if any(fnmatch.fnmatchcase(e.name, p) for p in patterns)]
