"""Make Hydra's own ``--help`` / ``--hydra-help`` fast without changing what it prints.

Hydra 1.3 lists config groups with one ``ConfigLoaderImpl.get_group_options`` call per group and
option kind (~120 calls for conf/), and every call deep-copies the whole config repository into a
fresh ``CachingConfigRepository``: about 2/3 of ``python train.py --help``'s wall time. Listing
options only reads the repository, so while help is printed one repository per
(config_name, overrides) serves every call. Nothing is patched for any other command line.
"""

from __future__ import annotations

HELP_FLAGS = frozenset({"--help", "-h", "--hydra-help"})


def asks_for_help(argv: list[str]) -> bool:
    """True when ``argv`` (sys.argv) requests Hydra's application or Hydra help."""
    return any(a in HELP_FLAGS for a in argv[1:])


def speed_up_help(argv: list[str]) -> bool:
    """Share one config repository between Hydra's group listings when ``argv`` asks for help.
    Returns whether the patch was installed (False: not a help call, or an unknown Hydra)."""
    if not asks_for_help(argv):
        return False
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra.core.object_type import ObjectType

    create = getattr(ConfigLoaderImpl, "_parse_overrides_and_create_caching_repo", None)
    if create is None:  # another Hydra version: leave it alone
        return False
    repos: dict = {}

    def get_group_options(self, group_name, results_filter=ObjectType.CONFIG, config_name=None,
                          overrides=None):
        key = (id(self), config_name, tuple(overrides or ()))
        if key not in repos:
            repos[key] = create(self, config_name, list(overrides or ()))[1]
        return repos[key].get_group_options(group_name, results_filter)

    ConfigLoaderImpl.get_group_options = get_group_options
    return True
