"""Helpers the models share that are not components themselves (nothing here registers in MODELS).

Prompts from masks (``interior_points``, ...) are shared with the datasets: :mod:`seg.utils.prompts`.
"""
from .class_embedding import (DEFAULT_EMBEDDING_DIR, VILD_TEMPLATES, ClassEmbeddingNotFoundError, OpenCLIPTextEncoder,
                              build_class_embeddings, build_openclip_text_encoder,
                              default_embedding_path, gen_cls_command, import_open_clip, load_class_embeddings,
                              read_class_names, save_class_embeddings, split_class_name)
from .openclip_text import (build_openclip_text_tower, load_text_tower_weights, openclip_model_name,
                            text_tower_embed_dim)

__all__ = [
    'VILD_TEMPLATES', 'DEFAULT_EMBEDDING_DIR', 'ClassEmbeddingNotFoundError', 'split_class_name',
    'build_class_embeddings', 'save_class_embeddings', 'load_class_embeddings', 'gen_cls_command',
    'default_embedding_path', 'read_class_names', 'import_open_clip',
    'OpenCLIPTextEncoder', 'build_openclip_text_encoder', 'build_openclip_text_tower', 'load_text_tower_weights',
    'openclip_model_name', 'text_tower_embed_dim'
]
