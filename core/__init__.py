"""The shared heart of xiaoyuan: settings, storage, models and services. Imports no surface."""
