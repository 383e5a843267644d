"""Tools to trust a gradient: numeric gradient checks and the op registry sweep."""

from .gradcheck import GradcheckError, gradcheck, numeric_jvp, numeric_vjp

__all__ = ["GradcheckError", "gradcheck", "numeric_jvp", "numeric_vjp"]
