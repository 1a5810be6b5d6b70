"""The built-in plugins: generic Hugging Face models, generic templates, local files, standard tuners.

They are plugins like any other (registered first, by ``ftcore.plugins.BUILTIN_MODULES``); their first-result
hooks are ``trylast`` so a family plugin's implementation is asked before them.
"""
