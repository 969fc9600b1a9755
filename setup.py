from setuptools import find_packages, setup

setup(
    name='polar-instance-seg',
    version='0.1.0',
    description='PolarNeXt, PolarMask and mask-based peers on MMDetection 3.3',
    license='Apache-2.0',
    python_requires='>=3.9',
    packages=find_packages(include=['mmdet_ext', 'mmdet_ext.*', 'projects',
                                    'projects.*']),
    install_requires=[],  # pinned in requirements/*.txt, see tools/install_openmmlab.sh
    zip_safe=False,
)
