"""Core plugins: the trading loop's policy (which ticks run what). Built-in: ``default``.

LTS drives every tick through the configured core plugin's ``tick(now)``, handing it a
:class:`lts.plugins.base.LoopHost`; a core plugin never imports the engine.
"""
