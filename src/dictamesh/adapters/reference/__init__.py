"""adapters/reference"""
