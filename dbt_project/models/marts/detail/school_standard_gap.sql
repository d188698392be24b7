{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='year', on_schema_change='fail', tags=['per_year']) }}
-- Gap to standard in physical units (缺什么补什么, spec §5): for each school part and 2017 indicator below its
-- standard, (standard - value) x students (/ 100 for per-hundred indicators): m², yuan, teachers, rooms missing.

select
    cast(s.county_code as varchar) as county_code,
    cast(s.school_code as varchar) as school_code,
    cast(s.year as integer) as year,
    cast(s.level as varchar) as level,
    cast(s.indicator as varchar) as indicator,
    cast(s.value as double) as value,
    cast(s.standard as double) as standard,
    cast(s.students as double) as students,
    cast((s.standard - s.value) * s.students / d.scale as double) as gap,
    cast(d.gap_unit_zh as varchar) as unit,
    cast(d.gap_unit_en as varchar) as unit_en
from {{ ref('school_indicators') }} s
join {{ ref('indicators') }} d on d.indicator = s.indicator
where s.method = 'quality' and s.meets = false and {{ year_filter('s.year') }}
