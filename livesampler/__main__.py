from livesampler.cli import main

main()
