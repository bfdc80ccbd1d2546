"""Whether an object would appear in a render of a scene: the rule for which armatures are
characters and which of their meshes make up their masks."""

from __future__ import annotations

import bpy


def render_visibility_skip(scene: bpy.types.Scene, obj: bpy.types.Object) -> str:
    """Why ``obj`` would not appear in a render of the scene's view layer, or ''."""
    if obj.hide_render:
        return "disabled in renders (its camera icon is off)"
    for collection in _collection_chain(scene, obj):
        if collection.hide_render:
            return f"its collection '{collection.name}' is disabled in renders"
    layer = view_layer(scene)
    layers = [lc for lc in _layer_collections(layer.layer_collection) if obj.name in lc.collection.objects]
    if layers and all(_excluded(layer.layer_collection, lc) for lc in layers):
        return f"its collection '{layers[0].collection.name}' is excluded from the view layer"
    if not obj.visible_get(view_layer=layer):
        return "hidden in the view layer (itself or its collection)"
    return ""


def view_layer(scene: bpy.types.Scene) -> bpy.types.ViewLayer:
    """The view layer renders of ``scene`` use here: the window's when it is one of the scene's."""
    layer = getattr(bpy.context, "view_layer", None)
    return layer if layer is not None and scene.view_layers.get(layer.name) == layer else scene.view_layers[0]


def _layer_collections(root) -> list:
    out = [root]
    for child in root.children:
        out.extend(_layer_collections(child))
    return out


def _excluded(root, target) -> bool:
    """True when ``target`` or a layer collection above it is excluded."""
    def walk(node, above: bool) -> bool | None:
        here = above or node.exclude
        if node == target:
            return here
        for child in node.children:
            found = walk(child, here)
            if found is not None:
                return found
        return None
    return bool(walk(root, False))


def _collection_chain(scene: bpy.types.Scene, obj: bpy.types.Object) -> list[bpy.types.Collection]:
    """The collections holding ``obj`` and every collection above them in the scene."""
    parents: dict[str, bpy.types.Collection] = {}
    for collection in [scene.collection, *scene.collection.children_recursive]:
        for child in collection.children:
            parents[child.name] = collection
    out = []
    for collection in obj.users_collection:
        while collection is not None and collection not in out:
            out.append(collection)
            collection = parents.get(collection.name)
    return out
