from .yoso_neck import YOSONeck

__all__ = ['YOSONeck']
