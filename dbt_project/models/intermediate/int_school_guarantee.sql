{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='year', on_schema_change='fail') }}
-- Per school and year, the three census-based government-guarantee items (spec §4.2), for the schools of the 2017
-- resource scope (special schools and teaching points under the minimum left out; G03 also leaves out every
-- teaching point). NULL = cannot be judged (a needed census value not reported).

with s as (
    select * from {{ ref('stg_census_schools') }}
    where {{ year_filter() }}
),

c as (
    select
        s.*,
        {{ cfg('tp', 'value') }} as tp_min,
        {{ cfg('cpr', 'value') }} as classes_per_room,
        {{ cfg('mus', 'value') }} as music_min,
        {{ cfg('art', 'value') }} as art_min,
        {{ cfg('one', 'value') }} as max_single,
        {{ cfg('multi', 'value') }} as max_multi,
        {{ cfg('ovr', 'value') }} as max_oversized,
        s.school_type in ('primary', 'teaching_point', 'nine_year', 'twelve_year') as has_primary,
        s.school_type in ('junior', 'nine_year', 'complete_secondary', 'twelve_year') as has_junior
    from s
    {{ cfg_join('method_constants', 'tp', 's.province_code', {'constant': "'teaching_point_min_students'"}) }}
    {{ cfg_join('method_constants', 'cpr', 's.province_code', {'constant': "'classes_per_special_room'"}) }}
    {{ cfg_join('method_constants', 'mus', 's.province_code', {'constant': "'music_room_min_area_m2'"}) }}
    {{ cfg_join('method_constants', 'art', 's.province_code', {'constant': "'art_room_min_area_m2'"}) }}
    {{ cfg_join('method_constants', 'one', 's.province_code', {'constant': "'max_students_single_section'"}) }}
    {{ cfg_join('method_constants', 'multi', 's.province_code', {'constant': "'max_students_multi_section'"}) }}
    {{ cfg_join('method_constants', 'ovr', 's.province_code', {'constant': "'max_oversized_classes'"}) }}
    where s.school_type <> 'special'
      and (s.school_type <> 'teaching_point' or coalesce(s.primary_students, 0) >= {{ cfg('tp', 'value') }})
),

g as (
    select
        *,
        case when has_primary then primary_classes else 0 end
            + case when has_junior then junior_classes else 0 end as compulsory_classes,
        ceil((case when has_primary then primary_classes else 0 end
            + case when has_junior then junior_classes else 0 end) / classes_per_room) as rooms_needed,
        case
            when school_type in ('nine_year', 'twelve_year') then primary_students + junior_students
            when school_type = 'complete_secondary' then junior_students
            when school_type = 'junior' then junior_students
            else primary_students
        end as compulsory_students,
        case when school_type in ('nine_year', 'twelve_year') then max_multi else max_single end as max_students
    from c
)

select
    cast(year as integer) as year,
    cast(school_code as varchar) as school_code,
    cast(county_code as varchar) as county_code,
    cast(school_type as varchar) as school_type,
    cast(school_type <> 'teaching_point' as boolean) as g03_applies,
    cast(compulsory_classes as double) as compulsory_classes,
    cast(rooms_needed as double) as rooms_needed,
    cast(case when school_type <> 'teaching_point' then
        case
            when music_rooms < rooms_needed or art_rooms < rooms_needed then false
            when music_rooms > 0 and music_room_area_m2 / music_rooms < music_min then false
            when art_rooms > 0 and art_room_area_m2 / art_rooms < art_min then false
            when rooms_needed is null or music_rooms is null or art_rooms is null then null
            when (music_rooms > 0 and music_room_area_m2 is null) or (art_rooms > 0 and art_room_area_m2 is null) then null
            else true
        end
    end as boolean) as g03_met,
    cast(compulsory_students as double) as compulsory_students,
    cast(max_students as double) as max_students,
    cast(compulsory_students <= max_students as boolean) as g04_met,
    cast(case when has_primary then primary_classes_over_45 else 0 end
        + case when has_junior then junior_classes_over_50 else 0 end as double) as oversized_classes,
    cast(case when has_primary then primary_classes_over_45 else 0 end
        + case when has_junior then junior_classes_over_50 else 0 end <= max_oversized as boolean) as g05_met
from g
