{{ config(tags=['flags_input']) }}
-- One row per school and year: typed, with the province code (first two digits of county_code). The values in force:
-- the submitted census with the counties' corrections (issue 15): raw.census_schools_corrected, the one place they are
-- applied (pipelines/junheng/lib/verify/store.py), which the quality flags read too.
-- depends_on: {{ source('raw', 'census_schools') }} {{ source('raw', 'flag_answers') }}
select
    cast(year as integer) as year,
    cast(school_code as varchar) as school_code,
    cast(school_name as varchar) as school_name,
    cast(county_code as varchar) as county_code,
    cast(county_name as varchar) as county_name,
    left(cast(county_code as varchar), 2) as province_code,
    cast(school_type as varchar) as school_type,
    cast(ownership as varchar) as ownership,
    cast(authority as varchar) as authority,
    cast(urban_rural as varchar) as urban_rural,
    cast(primary_students as double) as primary_students,
    cast(junior_students as double) as junior_students,
    cast(senior_students as double) as senior_students,
    cast(primary_classes as double) as primary_classes,
    cast(junior_classes as double) as junior_classes,
    cast(primary_classes_over_45 as double) as primary_classes_over_45,
    cast(junior_classes_over_50 as double) as junior_classes_over_50,
    cast(primary_teachers as double) as primary_teachers,
    cast(junior_teachers as double) as junior_teachers,
    cast(primary_teachers_above_degree as double) as primary_teachers_above_degree,
    cast(junior_teachers_above_degree as double) as junior_teachers_above_degree,
    cast(primary_teachers_senior_title as double) as primary_teachers_senior_title,
    cast(junior_teachers_senior_title as double) as junior_teachers_senior_title,
    cast(primary_backbone_teachers as double) as primary_backbone_teachers,
    cast(junior_backbone_teachers as double) as junior_backbone_teachers,
    cast(primary_pe_art_teachers as double) as primary_pe_art_teachers,
    cast(junior_pe_art_teachers as double) as junior_pe_art_teachers,
    cast(teaching_aux_area_m2 as double) as teaching_aux_area_m2,
    cast(sports_area_m2 as double) as sports_area_m2,
    cast(equipment_value_10k_yuan as double) as equipment_value_10k_yuan,
    cast(books as double) as books,
    cast(computers as double) as computers,
    cast(multimedia_classrooms as double) as multimedia_classrooms,
    cast(music_rooms as double) as music_rooms,
    cast(music_room_area_m2 as double) as music_room_area_m2,
    cast(art_rooms as double) as art_rooms,
    cast(art_room_area_m2 as double) as art_room_area_m2
from raw.census_schools_corrected
