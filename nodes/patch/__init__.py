"""Model patching: installing grounding on a MODEL clone, the sampler wrappers and middle patch, UNet block
addressing, and the fusers' attention function."""
