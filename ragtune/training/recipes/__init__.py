"""The recipes of the shipped adapters, one module each: data built from a seed, training options, scoring."""

from __future__ import annotations

from ragtune.training.recipes import grounded_json, knowledge_baked, ticket_router
from ragtune.training.recipes.base import Recipe

RECIPES: dict[str, Recipe] = {
    module.RECIPE.name: module.RECIPE for module in (grounded_json, knowledge_baked, ticket_router)
}
