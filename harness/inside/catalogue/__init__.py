"""The catalogue of reference estimators: what each is, what it is fitted on, how it is built."""

import fnmatch



COVERAGE = {}  # {class name: "covered" | "discovered" | why not}, filled by entries(discover=True)


def entries(discover=False):
    """Every catalogue entry, in a fixed order: the hand-written ones (models, then transformers),
    then with discover=True one per class of all_estimators() they do not cover, and every
    entry fitted the other ways (catalogue_variants: sparse, weighted, multi-output)."""
    import warnings

    from . import models as catalogue_models, transforms as catalogue_transforms

    out = list(catalogue_models.ENTRIES) + list(catalogue_transforms.ENTRIES)
    if discover:
        from . import discovered as catalogue_discovered
        covered = set()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for entry in out:
                if entry.available():
                    try:
                        covered.add(type(entry.factory()).__name__)
                    except Exception:  # noqa: BLE001 - the dump records the entry's own error
                        pass
        found, coverage = catalogue_discovered.discover(covered | set(e.name for e in out))
        COVERAGE.clear()
        COVERAGE.update(coverage)
        out += [e for e in found if e.name not in set(x.name for x in out)]
        from . import variants as catalogue_variants
        out += catalogue_variants.variants(out)
    names = [e.name for e in out]
    dupes = sorted(set(n for n in names if names.count(n) > 1))
    if dupes:
        raise ValueError("duplicate catalogue names: %s" % ", ".join(dupes))
    return out


def select(all_entries, patterns):
    """Entries whose name matches any of the glob patterns (None or empty: all of them)."""
    if not patterns:
        return list(all_entries)
    return [e for e in all_entries if any(fnmatch.fnmatchcase(e.name, p) for p in patterns)]
