"""Expression: the identity-free code (blendshapes), the learned landmark model, retargeting."""
from .model import ExpressionModel, load_default_model
from .retarget import RetargetConfig, Retargeted, retarget

__all__ = ["ExpressionModel", "load_default_model", "RetargetConfig", "Retargeted", "retarget"]
