"""raw columns -> model inputs"""
