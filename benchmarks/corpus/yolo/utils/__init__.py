import contextlib
import platform
import threading


def emojis(str=""):
    return str


class TryExcept(contextlib.ContextDecorator):
    pass


print(platform, threading)
