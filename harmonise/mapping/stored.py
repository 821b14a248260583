"""The workspace's topic dictionary and trial mappings, read from the dictionary directory the
store's settings name (``IPDREPO_DICTIONARY`` or ``dictionary = "DIR"`` in ipdrepo.toml)."""

from __future__ import annotations

from harmonise.dictionary.spec import Dictionary, load_dictionary
from harmonise.mapping.spec import Mapping, load_mapping, mapping_path
from repository.errors import NotFound
from repository.store import Store

__all__ = ["load_topic_dictionary", "load_trial_mapping"]


def load_topic_dictionary(store: Store) -> Dictionary:
    directory = store.settings.dictionary_dir
    if directory is None or not (directory / "dictionary.yaml").is_file():
        raise NotFound(f"no topic dictionary at {directory}/dictionary.yaml; point the workspace "
                       "at one with IPDREPO_DICTIONARY or `dictionary = \"DIR\"` in ipdrepo.toml.",
                       file=str(directory))
    return load_dictionary(directory)


def load_trial_mapping(store: Store, dictionary: Dictionary, trial: str) -> Mapping:
    directory = store.settings.dictionary_dir
    assert directory is not None
    path = mapping_path(directory, dictionary.version, trial)
    if not path.is_file():
        raise NotFound(f"trial {trial} has no mapping for dictionary {dictionary.version}: "
                       f"expected {path}. Write one (docs/mapping-format.md) and check it with "
                       f"`ipdrepo mapping check {trial}`.", trial=trial, file=str(path))
    return load_mapping(path, dictionary)
