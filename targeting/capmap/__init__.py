"""The capability map: clusters of prompts, their keywords and their capability areas.

``fit`` discovers the clusters (UMAP + HDBSCAN on a sample), ``labels`` names them with a few
topic phrases (the caller embeds the candidates), ``assign`` places any prompt
on a fitted map (the one path used for the fitted sample and for new data alike), and
``model`` saves and loads the map as arrays + JSON.
"""

from targeting.capmap.assign import Assignment, assign, exemplar_area_probs
from targeting.capmap.model import CapabilityMap, load_map, map_areas, save_map
from targeting.capmap.taxonomy import Taxonomy, context_text, load_taxonomy

__all__ = [
    "Assignment",
    "CapabilityMap",
    "Taxonomy",
    "assign",
    "context_text",
    "exemplar_area_probs",
    "fit_map",
    "load_map",
    "load_taxonomy",
    "map_areas",
    "save_map",
]


def __getattr__(name: str):
    """``fit_map`` is imported on first use: fitting needs scikit-learn and UMAP (over a second
    to import), which reading and assigning to a fitted map (the app, ``score``) never use."""
    if name == "fit_map":
        from targeting.capmap.fit import fit_map

        return fit_map
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
