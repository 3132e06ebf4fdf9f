"""Instant feedback for the exercise notebooks: one check per exercise.

A check runs an answer on fixed and random inputs and compares it with the reference.
When it is wrong, the check prints one diagnosis that names the mistake (wrong shape,
wrong reduction, forgot the bias, changed its input, NaN, radians, ...) and raises
CheckFailed, an AssertionError with the same text, which is how nbgrader scores the
cell (Jupyter shows it without the check's code, which holds the answers); when it is
right, it prints a short confirmation. `seed=` and size arguments give other inputs
(the hidden tests use them). Checks need only torch: no nbgrader, no data files.
"""

from .core import CheckFailed
from .lesson01 import (
    check_linear_autoencoder,
    check_pca_reconstruct,
    check_principal_angles,
    check_training_step,
)
from .lesson02 import check_bce_loss, check_interpolate, check_mlp_layers
from .lesson03 import check_kl_sparsity, check_l1_activity
from .lesson04 import check_gaussian_noise, check_mask_pixels, check_psnr, check_salt_and_pepper
from .lesson05 import check_contractive_penalty, check_sensitivity
from .lesson06 import check_pretrain_layerwise, check_unroll
from .lesson07 import (
    check_conv_decoder,
    check_conv_encoder,
    check_conv_output_size,
    check_conv_transpose_output_size,
)
from .lesson08 import check_elbo, check_kl_normal, check_reparameterize
from .lesson09 import check_auroc, check_reconstruction_scores, check_threshold_for_fpr

__all__ = [
    "CheckFailed", "check_bce_loss", "check_interpolate", "check_linear_autoencoder", "check_mlp_layers",
    "check_pca_reconstruct", "check_principal_angles", "check_training_step",
    "check_kl_sparsity", "check_l1_activity",
    "check_gaussian_noise", "check_mask_pixels", "check_psnr", "check_salt_and_pepper",
    "check_contractive_penalty", "check_sensitivity",
    "check_pretrain_layerwise", "check_unroll",
    "check_elbo", "check_kl_normal", "check_reparameterize",
    "check_auroc", "check_reconstruction_scores", "check_threshold_for_fpr",
    "check_conv_decoder", "check_conv_encoder", "check_conv_output_size", "check_conv_transpose_output_size",
]
