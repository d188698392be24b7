{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='year', on_schema_change='fail', tags=['per_year']) }}
-- One row per school and year as the census gives it: the name, county and the classification the marts use, so a
-- report or an analyst names a school from the marts alone (the name may change across years).

select
    cast(school_code as varchar) as school_code,
    cast(year as integer) as year,
    cast(school_name as varchar) as school_name,
    cast(county_code as varchar) as county_code,
    cast(school_type as varchar) as school_type,
    cast(ownership as varchar) as ownership,
    cast(authority as varchar) as authority,
    cast(urban_rural as varchar) as urban_rural,
    cast(coalesce(primary_students, 0) + coalesce(junior_students, 0) as double) as compulsory_students
from {{ ref('stg_census_schools') }}
where {{ year_filter() }}
