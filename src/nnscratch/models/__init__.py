"""Recipes: a model with its data and defaults, trained by name (`nnscratch train NAME`);
`generate(model, prompt, max_new_tokens, ...)`, the sampler of every language model."""

from . import (
    char_gpt,
    char_lstm,
    fashion,
    fashion_ddpm,
    fashion_generative,
    sine_rnn,
    small,
    toy_ddpm,
)
from .autoencoders import VAE, Autoencoder
from .char_lstm import CharLSTM
from .gan import GAN
from .generation import generate
from .gpt import GPT
from .recipe import Recipe, Splits
from .unet import UNet

RECIPES = {**small.RECIPES, **fashion.RECIPES, **char_lstm.RECIPES, **char_gpt.RECIPES,
           **sine_rnn.RECIPES, **fashion_generative.RECIPES, **toy_ddpm.RECIPES,
           **fashion_ddpm.RECIPES}


def get(name: str) -> Recipe:
    if name not in RECIPES:
        raise KeyError(f"unknown recipe {name!r}; recipes: {', '.join(sorted(RECIPES))}")
    return RECIPES[name]


__all__ = ["GAN", "GPT", "RECIPES", "VAE", "Autoencoder", "CharLSTM", "Recipe", "Splits",
           "UNet", "generate", "get"]
