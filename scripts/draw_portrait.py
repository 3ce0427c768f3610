from stylesweep.logs import log_to, mark_imports_done

with log_to(snakemake.log[0]):
    from stylesweep.files import atomic_path
    from stylesweep.toy.configs import IMAGE_SIZE
    from stylesweep.toy.world import demo_portrait_index, draw

    mark_imports_done()

    index = demo_portrait_index()
    picture = draw(index, IMAGE_SIZE)
    print(f"the toy world's picture {index}: {picture.caption}")
    with atomic_path(snakemake.output[0]) as tmp:
        picture.image.save(tmp, format="PNG")
